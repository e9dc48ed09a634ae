#ifndef SCEP_COMMON_CRYPTO_DER_H_
#define SCEP_COMMON_CRYPTO_DER_H_

#include <openssl/asn1.h>
#include <openssl/crypto.h>

#include <cstdint>
#include <ctime>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {

// Seconds since the epoch of an ASN.1 time (notBefore, notAfter); 0 when
// it is null or unreadable.
inline int64_t UnixSeconds(const ASN1_TIME* time) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// DER encoding of `obj` with its i2d function; Internal on failure.
template <typename T>
absl::StatusOr<std::string> ToDer(const T* obj, int (*i2d)(const T*, unsigned char**)) {
  unsigned char* out = nullptr;
  int len = i2d(obj, &out);
  if (len <= 0) return SslInternal("DER encoding");
  std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

// Decodes `der` with its d2i function, rejecting trailing bytes.
// InvalidArgument (naming `what`) on malformed input.
template <typename Ptr, typename T>
absl::StatusOr<Ptr> FromDer(absl::string_view der,
                            T* (*d2i)(T**, const unsigned char**, long),
                            absl::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Ptr obj(d2i(nullptr, &p, static_cast<long>(der.size())));
  if (obj == nullptr) return SslInvalid(std::string(what) + " is not valid DER");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError(std::string(what) + " has trailing bytes");
  }
  return obj;
}

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_DER_H_
