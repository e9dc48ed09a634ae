#include "common/redis/certificate_index.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/crypto/der.h"

namespace scep::redis {

absl::Status ValidateSerialHex(absl::string_view serial_hex) {
  if (serial_hex.empty() || serial_hex.size() > 40 ||
      serial_hex.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return absl::InvalidArgumentError("serial must be 1..40 lower-case hex digits");
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> CertificateNotAfter(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("not a DER certificate");
  }
  const absl::Time not_after =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert)));
  X509_free(cert);
  return not_after;
}

}  // namespace scep::redis
