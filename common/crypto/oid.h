#ifndef SCEP_COMMON_CRYPTO_OID_H_
#define SCEP_COMMON_CRYPTO_OID_H_

#include <openssl/asn1.h>

#include <string>

#include "absl/strings/string_view.h"

namespace scep::crypto {

// "1.3.6.1.5.5.7.3.2" for `obj`; "" when it cannot be printed.
std::string DottedOid(const ASN1_OBJECT* obj);

// The dotted form of an OID named as OpenSSL knows it ("clientAuth") or
// already dotted; "" for a name OpenSSL does not know.
std::string DottedOidOf(absl::string_view name);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_OID_H_
