#ifndef SCEP_COMMON_CRYPTO_CA_CHAIN_H_
#define SCEP_COMMON_CRYPTO_CA_CHAIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

// A CA under another root (an issuing CA signed by the organisation's own
// root, directly or through intermediates): `chain` holds the certificates
// above `ca`, its issuer first, ending with the self-signed root.

// Whether `ca` is usable as this service's CA and verifies under `chain`
// with the last certificate as the only trust anchor, at the current time,
// as strict verifiers read RFC 5280 (X509_V_FLAG_X509_STRICT: CA
// certificates with a critical basicConstraints CA:TRUE, a keyUsage and a
// subject key identifier, name constraints obeyed, ...): `ca` with
// basicConstraints CA:TRUE (X509_check_ca 1, not a mere keyUsage) and a
// keyUsage with keyCertSign and cRLSign (it signs CRLs). FailedPrecondition
// naming what fails (OpenSSL's verification error, the subject concerned).
// scep-provision --import-ca checks with it before it writes anything.
// `strict` false: as the signer checks the chain it was given at start
// (since before these checks were strict, so that an upgrade does not stop
// a signer over a chain it served with): basicConstraints or keyCertSign,
// keyUsage absent allowed, verification without X509_V_FLAG_X509_STRICT.
absl::Status VerifyCaChain(X509* ca, const std::vector<X509Ptr>& chain, bool strict = true);

// Whether `cert`, issued by `ca`, verifies under `ca` and `chain` as
// VerifyCaChain verifies `ca` (strictly, the root the only trust anchor,
// name constraints included), for any purpose. FailedPrecondition naming
// the verification error and the certificate concerned.
absl::Status VerifyIssuedUnderCaChain(X509* cert, X509* ca, const std::vector<X509Ptr>& chain);

// All PEM certificates of `path`, in file order. FailedPrecondition naming
// the path when it cannot be read or holds none.
absl::StatusOr<std::vector<X509Ptr>> LoadCertificateChainFile(const std::string& path);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_CA_CHAIN_H_
