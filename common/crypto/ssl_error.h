#ifndef SCEP_COMMON_CRYPTO_SSL_ERROR_H_
#define SCEP_COMMON_CRYPTO_SSL_ERROR_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace scep::crypto {

// Drains this thread's OpenSSL error queue into one string ("" when empty).
std::string DrainSslErrors();

// `code` status whose message is `what` followed by the drained queue.
// Never pass secret material in `what`.
absl::Status SslError(absl::StatusCode code, absl::string_view what);

// Internal error for a failed OpenSSL call (our bug or resource exhaustion).
inline absl::Status SslInternal(absl::string_view what) {
  return SslError(absl::StatusCode::kInternal, what);
}

// InvalidArgument for OpenSSL failing on client-supplied input.
inline absl::Status SslInvalid(absl::string_view what) {
  return SslError(absl::StatusCode::kInvalidArgument, what);
}

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_SSL_ERROR_H_
