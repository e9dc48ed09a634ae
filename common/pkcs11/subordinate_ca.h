#ifndef SCEP_COMMON_PKCS11_SUBORDINATE_CA_H_
#define SCEP_COMMON_PKCS11_SUBORDINATE_CA_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/ssl_ptr.h"
#include "common/pkcs11/provisioner.h"

namespace scep::pkcs11 {

// A CA under the organisation's own root instead of a self-signed one: the
// CA key is generated in the token as usual, the root (directly or through
// intermediates) certifies it, and the service publishes the chain.

// Step 1: prepares the token like Provision (created with the SO PIN when
// missing, CA and RA key pairs generated where missing) and returns a
// PKCS#10 request (DER) for the token's CA key, subject `ca_subject`,
// asking for basicConstraints CA:TRUE, pathLen 0, and keyUsage keyCertSign,
// cRLSign (both critical), signed in the token with the CA key.
absl::StatusOr<std::string> CaCertificateRequest(const ProvisionOptions& options);

// Step 2: `ca`, the certificate the root's side issued for that request,
// and `chain`, the certificates above it up to and including the self-signed
// root: checks, creating nothing, that the CA key
// and the RA key --ca-csr generated are there (FailedPrecondition naming
// the label otherwise: a mistyped label must not add a key pair to a
// production token) and that `ca` (`ca_name` in messages) is for that CA
// key; verifies `ca` under `chain`
// (crypto::VerifyCaChain, strict), issues the RA certificate with the CA key
// (never past `ca`), checks that it verifies under `ca` and `chain`
// (crypto::VerifyIssuedUnderCaChain: e.g. name constraints of the chain),
// and only then writes <dir>/ca-chain.pem, ca.pem and ra.pem. Running it
// again issues a new RA certificate. FailedPrecondition naming what does not
// fit.
absl::StatusOr<crypto::X509Ptr> ImportCaCertificate(
    const ProvisionOptions& options, X509* ca, const std::vector<crypto::X509Ptr>& chain,
    const std::string& dir, absl::string_view ca_name = "the CA certificate to import");

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_SUBORDINATE_CA_H_
