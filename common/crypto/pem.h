#ifndef SCEP_COMMON_CRYPTO_PEM_H_
#define SCEP_COMMON_CRYPTO_PEM_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

// First certificate of PEM file `path`. FailedPrecondition naming the path
// when it cannot be read or parsed (configuration error).
absl::StatusOr<X509Ptr> LoadCertificateFile(const std::string& path);

// Private key of PEM file `path` (tests and RA key files only): PKCS#8 or
// traditional, unencrypted; an encrypted key fails (never a passphrase
// prompt). FailedPrecondition naming the path, never the file's content.
absl::StatusOr<EvpPkeyPtr> LoadPrivateKeyFile(const std::string& path);

// A certificate, CRL or certificate request an administrator or API
// caller hands over as DER or PEM (the first object of its kind when the
// text has PEM armour). InvalidArgument naming the kind otherwise.
absl::StatusOr<X509Ptr> CertificateFromDerOrPem(absl::string_view data);
absl::StatusOr<X509CrlPtr> CrlFromDerOrPem(absl::string_view data);
absl::StatusOr<X509ReqPtr> CsrFromDerOrPem(absl::string_view data);

// Upper-case colon-separated SHA-256 fingerprint of `cert`, as MDM consoles
// show it.
std::string Sha256Fingerprint(X509* cert);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_PEM_H_
