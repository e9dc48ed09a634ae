#ifndef SCEP_COMMON_CRYPTO_CA_KEY_ID_H_
#define SCEP_COMMON_CRYPTO_CA_KEY_ID_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

// How relying parties and operators name one CA key across a CA rollover:
// the lower-case hex of `ca`'s subjectKeyIdentifier, which is the
// authorityKeyIdentifier of every certificate and CRL that key signs (RFC
// 5280 4.2.1.1); without one, the SHA-1 of its subjectPublicKey (method 1
// of RFC 5280 4.2.1.2, what OpenSSL puts there). "" only for a null or
// keyless certificate. Thread-safe.
std::string CaKeyId(X509* ca);

// Whether `text` could be a CaKeyId: 1..64 lower-case hex digits.
bool IsCaKeyId(absl::string_view text);

// The raw SHA-256 (32 octets) of `cert`'s DER: how the gateway names a CA
// certificate to the signer (SignCrl / SignOcsp ca_certificate_sha256).
// "" for a null certificate.
std::string CertificateSha256(X509* cert);

// `uri` with every "{key}" replaced by `key_id` (a profile's
// crl_distribution_points and ca_issuers, expanded at issuance with the
// issuing CA's CaKeyId, e.g. http://host/crl/default/{key}.crl).
std::string ExpandKeyPlaceholder(absl::string_view uri, absl::string_view key_id);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_CA_KEY_ID_H_
