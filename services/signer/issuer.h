#ifndef SCEP_SERVICES_SIGNER_ISSUER_H_
#define SCEP_SERVICES_SIGNER_ISSUER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/publication_uri.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::signer {

struct IssueParams {
  int validity_days = 365;
  const EVP_MD* digest = nullptr;  // nullptr: SHA-256
  absl::Time now;
  // Profile policy: when set, used instead of the CSR's subject / SAN.
  X509_NAME* subject = nullptr;
  GENERAL_NAMES* subject_alt_name = nullptr;
  // OpenSSL names; empty: digitalSignature+keyEncipherment (EC:
  // +keyAgreement) and clientAuth. Key usages that do not apply to the
  // request's key algorithm are left out (keyEncipherment and
  // dataEncipherment for EC keys, RFC 5480 section 3; keyAgreement,
  // encipherOnly and decipherOnly for RSA keys, RFC 3279 section 2.3.1).
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  // cRLDistributionPoints (one DistributionPoint, these URIs its fullName:
  // the same CRL at each) and authorityInfoAccess caIssuers; empty: none.
  std::vector<std::string> crl_distribution_points;
  std::vector<std::string> ca_issuers;
  // authorityInfoAccess OCSP: the responder's URIs; empty: none.
  std::vector<std::string> ocsp_urls;
};



// Builds an unsigned X.509 v3 end-entity certificate from a verified CSR:
// positive random 127-bit serial, subject and subjectAltName from the CSR,
// issuer from `ca`, validity [now - 5 min, now + days] within the CA's
// (notBefore no earlier, notAfter no later), basicConstraints CA:FALSE, keyUsage digitalSignature +
// keyEncipherment (digitalSignature + keyAgreement for EC keys), EKU
// clientAuth, SKI and AKI. `key` is the CSR's public key
// (codec::Csr::public_key: codec::ParseCsr does not leave it in `csr`).
// InvalidArgument for an unusable CSR, or key usages none of which applies
// to its key. FailedPrecondition with rule "ca_expired" (PolicyRuleOf)
// when the CA certificate has expired at `params.now`, or its validity
// leaves the certificate none.
absl::StatusOr<crypto::X509Ptr> BuildCertificate(X509_REQ* csr, EVP_PKEY* key,
                                                 X509* ca,
                                                 const IssueParams& params);

// Signs `cert` with the CA `key`; Internal (with the OpenSSL queue) when the
// token refuses.
absl::Status SignCertificate(X509* cert, EVP_PKEY* key, const EVP_MD* digest);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUER_H_
