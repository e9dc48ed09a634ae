#ifndef SCEP_COMMON_PKCS11_CERT_BUILDER_H_
#define SCEP_COMMON_PKCS11_CERT_BUILDER_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::pkcs11 {

// The longest validity IssueCertificate accepts (about a century).
inline constexpr int kMaxValidityDays = 100 * 366;

// The certificates the provisioner issues for a SCEP service.
enum class CertificateRole {
  // Self-signed root: basicConstraints critical CA:TRUE, keyUsage critical
  // keyCertSign, cRLSign, digitalSignature.
  kCa,
  // RA (RFC 8894 section 2.1.1, signs responses and decrypts request
  // envelopes): basicConstraints CA:FALSE, keyUsage critical
  // digitalSignature, keyEncipherment, dataEncipherment.
  kRa,
};

struct CertificateRequest {
  CertificateRole role = CertificateRole::kCa;
  std::string subject;        // see ParseDistinguishedName
  int validity_days = 365;    // from now (notBefore is 5 minutes back)
  EVP_PKEY* subject_key = nullptr;  // public key to certify; not owned
  // When set, the subject as it is instead of `subject` (not owned): a
  // name kept from an earlier certificate, which text may not carry.
  const X509_NAME* subject_name = nullptr;
};

// Builds an X.509 v3 certificate for `request` with a random positive
// 127-bit serial, SubjectKeyIdentifier and AuthorityKeyIdentifier, signed by
// `issuer_key` with `digest`. `issuer` null means self-signed: issuer name
// and key identifier are the subject's, and `issuer_key` must be the private
// half of `request.subject_key`. With an issuer the validity never leaves
// the issuer's: notAfter at most the issuer's notAfter, notBefore at least
// its notBefore. The signature is verified before returning.
//
// `issuer_key` may be a token key (Token::WithPrivateKey). Errors:
// InvalidArgument for a bad subject or validity; Internal when OpenSSL or
// the token fails to sign (with the drained error queue).
absl::StatusOr<crypto::X509Ptr> IssueCertificate(
    const CertificateRequest& request, const X509* issuer,
    EVP_PKEY* issuer_key, const EVP_MD* digest);

// SHA-256 of the DER certificate as upper-case colon-separated hex
// ("AB:01:..."), the form `openssl x509 -fingerprint -sha256` prints.
absl::StatusOr<std::string> Sha256Fingerprint(const X509* cert);

// Writes `cert` as PEM to `path` (mode 0644) through a temporary file and a
// rename, so readers never see half a file. Internal on I/O failure.
absl::Status WriteCertificatePem(const X509* cert, const std::string& path);
// The same for several certificates in one file, in order (a CA chain).
absl::Status WriteCertificatesPem(const std::vector<const X509*>& certs,
                                  const std::string& path);

// Reads the first PEM certificate in `path`. NotFound when the file does not
// exist; InvalidArgument when it holds no certificate.
absl::StatusOr<crypto::X509Ptr> ReadCertificatePem(const std::string& path);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_CERT_BUILDER_H_
