#include "common/crypto/ssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace scep::crypto {

std::string DrainSslErrors() {
  std::string out;
  unsigned long code;
  const char* file = nullptr;
  int line = 0;
  while ((code = ERR_get_error_all(&file, &line, nullptr, nullptr, nullptr)) !=
         0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

absl::Status SslError(absl::StatusCode code, absl::string_view what) {
  std::string queue = DrainSslErrors();
  if (queue.empty()) return absl::Status(code, what);
  return absl::Status(code, absl::StrCat(what, ": ", queue));
}

}  // namespace scep::crypto
