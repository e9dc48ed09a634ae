#ifndef SCEP_SERVICES_SIGNER_SIGNER_CORE_H_
#define SCEP_SERVICES_SIGNER_SIGNER_CORE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/codec/scep_types.h"
#include "common/crypto/ssl_ptr.h"
#include "services/signer/crl_builder.h"
#include "services/signer/issuance_policy.h"
#include "services/signer/ocsp_builder.h"
#include "services/signer/key_access.h"

namespace scep::signer {

struct SignerOptions {
  int default_validity_days = 365;
  std::string default_digest = "sha256";
  std::function<absl::Time()> clock = absl::Now;
  // CA rollover: the next CA certificate, published by GetNextCACert, and
  // the RA certificate the next CA issued (RFC 8894 section 3.5.2: "the new
  // CA certificate and any new RA certificates"); null: none. New() refuses
  // a next RA certificate the next CA did not sign.
  crypto::X509Ptr next_ca_certificate;
  crypto::X509Ptr next_ra_certificate;
  // A CA under another root (scep-provision --import-ca): the certificates
  // above the CA certificate, its issuer first, up to the self-signed root.
  // New() refuses a chain the CA certificate does not verify under.
  std::vector<crypto::X509Ptr> ca_chain;
  // After a CA rollover: the CA certificates this one replaced, published
  // to gateways so that the certificates they issued still authenticate a
  // renewal. New() refuses one that is not a CA certificate or is the
  // current CA certificate.
  std::vector<crypto::X509Ptr> previous_ca_certificates;
  // Bounds on what the CA key signs (scep-signer --issuance_policy); the
  // built-in rules apply even when unconfigured.
  IssuancePolicy issuance_policy;
};

// Every private-key operation of the service, independent of gRPC: RA
// decryption of request envelopes, certificate issuance with the CA key, and
// RA signatures over CertReps. Thread-safe.
class SignerCore {
 public:
  // FailedPrecondition when a certificate does not match its key.
  static absl::StatusOr<std::unique_ptr<SignerCore>> New(
      SignerOptions options, std::unique_ptr<KeyAccess> ca_key,
      crypto::X509Ptr ca_cert, std::unique_ptr<KeyAccess> ra_key,
      crypto::X509Ptr ra_cert);

  // Also accepts request envelopes encrypted to `cert`, the RA certificate
  // in use before the last RA renewal (the same key: `key` null) or RA key
  // rollover (`key`, the previous RA key): devices that fetched it before
  // the gateways published the new one still enroll. CertReps stay signed
  // with the current RA key. Call before the core serves. FailedPrecondition
  // when `cert` is not of `key` (without `key`: of the current RA key) or
  // not RSA.
  absl::Status AcceptPreviousRa(crypto::X509Ptr cert, std::unique_ptr<KeyAccess> key);

  // After a CA rollover: `key` is the key of the previous CA certificate
  // whose SHA-256 is `certificate_sha256` (crypto::CertificateSha256, one
  // of SignerOptions::previous_ca_certificates), so that CRLs and OCSP
  // answers can be signed for the certificates it issued (SignCrl,
  // SignOcsp). Call before the core serves. NotFound for another
  // certificate; FailedPrecondition when `key` is not its key.
  absl::Status AcceptPreviousCaKey(absl::string_view certificate_sha256,
                                   std::unique_ptr<KeyAccess> key);

  // Plaintext of a pkcsPKIEnvelope addressed to the RA (its current
  // certificate, or the previous one when accepted). InvalidArgument when
  // it is malformed or not for the RA. `for_previous`, when given, tells
  // whether it was addressed to the previous RA certificate.
  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped_data,
                                      bool* for_previous = nullptr);

  // DER certificate for DER `csr`. The CSR signature is checked again here:
  // the signer trusts no gateway with what the CA key signs. A certificate
  // outside the issuance policy is never signed: FailedPrecondition with
  // the rule (PolicyRuleOf); nor is one once the CA certificate has
  // expired (rule "ca_expired").
  // `validity_days` 0 and `digest` "" take the defaults; digests other than
  // SHA-256/384/512 are refused.
  absl::StatusOr<std::string> Issue(absl::string_view csr, int validity_days,
                                    absl::string_view digest);

  // Profile policy chosen by the gateway: DER subject Name and GeneralNames
  // replace the CSR's when non-empty; key usage / EKU names replace the
  // defaults. InvalidArgument for malformed DER or unknown usage names.
  struct Policy {
    int validity_days = 0;
    std::string digest;
    std::string subject;           // DER Name
    std::string subject_alt_name;  // DER GeneralNames
    std::vector<std::string> key_usage;
    std::vector<std::string> extended_key_usage;
    // cRLDistributionPoints / authorityInfoAccess caIssuers URIs
    // (CheckPublicationUris); empty: no extension.
    std::vector<std::string> crl_distribution_points;
    std::vector<std::string> ca_issuers;
    std::vector<std::string> ocsp_urls;  // authorityInfoAccess OCSP
  };
  absl::StatusOr<std::string> Issue(absl::string_view csr, const Policy& policy);
  // The same, as a parsed certificate (for a CertRep built right away).
  // `key_from`: a certificate that may hold the CSR's key (the CertRep
  // recipient), whose decoded key then serves (codec::ParseCsr).
  absl::StatusOr<crypto::X509Ptr> IssueX509(absl::string_view csr,
                                            const Policy& policy,
                                            X509* key_from = nullptr);

  // RA-signed CertRep (messageType forced to CertRep) over `content`.
  absl::StatusOr<std::string> SignCertRep(absl::string_view content,
                                          codec::ScepAttributes attributes,
                                          absl::string_view digest);

  // The SUCCESS CertRep delivering `certificate` (RFC 8894 section 3.3.2):
  // the certificate in a degenerate SignedData, encrypted to `recipient`
  // (the certificate that signed the request) with `cipher`, RA-signed.
  // `attributes.pki_status` must be SUCCESS.
  absl::StatusOr<std::string> CertRepDelivering(X509* certificate, X509* recipient,
                                                absl::string_view cipher,
                                                codec::ScepAttributes attributes,
                                                absl::string_view digest);

  // DER OCSPResponse (successful) answering `params`, signed by the CA key
  // (RFC 6960: the CA as its own responder). InvalidArgument for bad
  // params (ocsp_builder.h). `ca_sha256` (see SignCrl) picks the CA.
  absl::StatusOr<std::string> SignOcsp(const OcspParams& params,
                                       absl::string_view ca_sha256 = {});

  // DER CRL signed by the CA key. `digest` "" takes the default.
  // `ca_sha256`, the SHA-256 of a previous CA certificate whose key was
  // accepted (AcceptPreviousCaKey), makes it that CA's CRL (its name as
  // issuer, its AKI, its key); "" or the current CA certificate's: the
  // current CA. NotFound for another certificate; FailedPrecondition for
  // a previous CA whose key was not found.
  absl::StatusOr<std::string> SignCrl(const CrlParams& params,
                                      absl::string_view digest,
                                      absl::string_view ca_sha256 = {});

  const std::string& ca_certificate_der() const { return ca_der_; }
  const std::string& ra_certificate_der() const { return ra_der_; }
  const IssuancePolicy& issuance_policy() const { return options_.issuance_policy; }
  // Empty when no next CA is configured.
  const std::string& next_ca_certificate_der() const { return next_ca_der_; }
  // DER of SignerOptions::ca_chain; empty for a root CA.
  const std::vector<std::string>& ca_chain_der() const { return ca_chain_der_; }
  // DER of SignerOptions::previous_ca_certificates; empty: none.
  const std::vector<std::string>& previous_ca_der() const { return previous_ca_der_; }
  // The GetNextCACert answer (RFC 8894 section 4.7.1), RA-signed at start-up.
  const std::string& next_ca_message() const { return next_ca_message_; }

 private:
  SignerCore(SignerOptions options, std::unique_ptr<KeyAccess> ca_key,
             crypto::X509Ptr ca_cert, std::unique_ptr<KeyAccess> ra_key,
             crypto::X509Ptr ra_cert, std::string ca_der, std::string ra_der);

  absl::Status PrepareNextCa();

  // The CA certificate and key `ca_sha256` names (SignCrl).
  struct CaKey {
    X509* cert;
    KeyAccess* key;
  };
  absl::StatusOr<CaKey> CaKeyFor(absl::string_view ca_sha256);

  SignerOptions options_;
  const std::unique_ptr<KeyAccess> ca_key_;
  const crypto::X509Ptr ca_cert_;
  const std::unique_ptr<KeyAccess> ra_key_;
  const crypto::X509Ptr ra_cert_;
  const std::string ca_der_;
  const std::string ra_der_;
  crypto::X509Ptr previous_ra_cert_;            // null: none accepted
  std::unique_ptr<KeyAccess> previous_ra_key_;  // null: the current RA key
  std::string next_ca_der_;
  std::string next_ca_message_;
  std::vector<std::string> ca_chain_der_;
  std::vector<std::string> previous_ca_der_;
  // By certificate SHA-256: previous CA keys found (AcceptPreviousCaKey).
  std::map<std::string, std::unique_ptr<KeyAccess>, std::less<>> previous_ca_keys_;
  std::string ca_sha256_;  // of the current CA certificate
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_SIGNER_CORE_H_
