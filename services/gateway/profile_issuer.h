#ifndef SCEP_SERVICES_GATEWAY_PROFILE_ISSUER_H_
#define SCEP_SERVICES_GATEWAY_PROFILE_ISSUER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/codec/csr.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/profile.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// Issues certificates for a profile: applies the profile's policy to a
// verified CSR (key type and size, allowed RDNs, subject template, SAN
// patterns), asks the signer for the certificate with the profile's
// validity, digest, key usage and EKU, and records it in the certificate
// index. Shared by SCEP enrollment, manual approval and the admin API's
// Enroll. Thread-safe; dependencies are not owned.
class ProfileIssuer {
 public:
  ProfileIssuer(SignerClient* signer, redis::CertificateIndex* index,
                absl::Duration index_grace = absl::Hours(24 * 365))
      : signer_(signer), index_(index), index_grace_(index_grace) {}

  // PermissionDenied when the CSR is outside the profile's policy (the
  // message says which rule, for failInfoText); Unavailable when the
  // signer is down, or when the certificate was signed but the index did
  // not record it (withheld, as the SCEP path does: a certificate missing
  // from the index is missing from inventory and cannot be revoked by
  // serial; the signer's audit trail has it); the DER certificate otherwise.
  absl::StatusOr<std::string> Issue(const Profile& profile, const codec::Csr& csr);

  // Issue plus the SUCCESS CertRep carrying the certificate, in one signer
  // call (SCEP enrollment); same errors and index record as Issue, except
  // that `csr` must already have passed CheckPolicy(profile, csr) (the
  // enrollment path checks before it claims the transaction).
  absl::StatusOr<IssuedCertRep> IssueWithReply(const Profile& profile,
                                               const codec::Csr& csr,
                                               const CertRepRequest& reply);

  // Records again a certificate the profile's CA issued that the index
  // lost (Redis without AOF, an older backup). One whose serial the
  // revocation list has (restored from a CRL or a gateway's memory) is
  // recorded revoked, with the list's date and reason, and its list entry
  // gains the certificate's notAfter; the record returned says which. The
  // caller has checked that `cert` was issued by the profile's CA.
  // Unavailable when Redis is.
  absl::StatusOr<redis::CertificateRecord> RecordAgain(const Profile& profile, X509* cert);

  // Only the policy check (for refusing before a request is queued for
  // approval).
  static absl::Status CheckPolicy(const Profile& profile, const codec::Csr& csr);

  // True when a certificate issued from a request with subject `requested`
  // under `profile` would carry `subject`: the requested subject itself, or
  // what the profile's subject template makes of it (a renewal keeps its
  // identity; a CertPoll names the request's subject, RFC 8894 3.3.3).
  // PermissionDenied when the template cannot be filled from `requested`.
  static absl::StatusOr<bool> IssuesSubject(const Profile& profile,
                                            const X509_NAME* requested,
                                            const X509_NAME* subject);

  // The subject a certificate issued from a request with subject
  // `requested` would carry (a copy of it, or the template's).
  static absl::StatusOr<crypto::X509NamePtr> IssuedSubject(const Profile& profile,
                                                           const X509_NAME* requested);

 private:
  // What the signer is asked to sign (the caller checked the policy).
  absl::StatusOr<IssueRequest> SignerRequest(const Profile& profile,
                                             const codec::Csr& csr) const;
  // Records an issued certificate in the index; a failure is returned
  // (the callers withhold the certificate and report it).
  absl::Status Record(const Profile& profile, const std::string& cert_der,
                      const std::string& serial_hex, absl::Time not_after);

  SignerClient* const signer_;
  redis::CertificateIndex* const index_;
  const absl::Duration index_grace_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PROFILE_ISSUER_H_
