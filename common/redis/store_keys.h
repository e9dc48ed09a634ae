#ifndef SCEP_COMMON_REDIS_STORE_KEYS_H_
#define SCEP_COMMON_REDIS_STORE_KEYS_H_

// Key layout and argument checks shared by every EnrollmentStore
// implementation, so the fake and Redis refuse exactly the same inputs.
//
//   scep:{profile}:nonce:{id}   senderNonce seen (string, TTL)
//   scep:{profile}:txn:{id}     transaction (hash: state, fp, cert or serial;
//                               TTL; serial refers to scep:cert:{serial})
//
// {id} is the lowercase hex of a client-chosen value of at most
// kMaxHexIdentifierBytes bytes, else "sha256-" followed by the hex SHA-256 of
// the value. Hex never contains '-', so the two forms cannot collide, and no
// key grows beyond a fixed size whatever the client sends.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::redis {

inline constexpr size_t kMaxHexIdentifierBytes = 32;
inline constexpr size_t kMaxProfileBytes = 128;

// InvalidArgument unless `profile` is 1..kMaxProfileBytes printable ASCII
// characters other than ':' and space.
absl::Status ValidateProfile(absl::string_view profile);

// Key of `nonce` under `profile`. InvalidArgument for a bad profile or an
// empty nonce; Internal when hashing fails.
absl::StatusOr<std::string> NonceKey(absl::string_view profile,
                                     absl::string_view nonce);

// Key of `transaction_id` under `profile`. Same errors as NonceKey.
absl::StatusOr<std::string> TransactionKey(absl::string_view profile,
                                           absl::string_view transaction_id);

// `ttl` rounded up to whole milliseconds. InvalidArgument (naming `what`)
// when it is below one millisecond or infinite.
absl::StatusOr<int64_t> TtlMillis(absl::Duration ttl, absl::string_view what);

// InvalidArgument (naming `what`) when `value` is empty.
absl::Status RequireNonEmpty(absl::string_view value, absl::string_view what);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_STORE_KEYS_H_
