#ifndef SCEP_SERVICES_ADMIN_ADMIN_CORE_H_
#define SCEP_SERVICES_ADMIN_ADMIN_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/codec/csr.h"
#include "common/metrics/json_log.h"
#include "common/redis/certificate_index.h"
#include "common/redis/enrollment_store.h"
#include "common/redis/request_store.h"
#include "scep/admin/v1/admin.pb.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/profile.h"
#include "services/gateway/profile_issuer.h"
#include "services/gateway/signer_client.h"

namespace scep::admin {

// One issuing CA as the admin API uses it. Not owned.
struct AdminCaDeps {
  gateway::SignerClient* signer = nullptr;
  redis::CertificateIndex* index = nullptr;  // that CA's view (its CRL)
  gateway::ProfileIssuer* issuer = nullptr;
  gateway::CaCertificates* ca = nullptr;
};

// What the admin API works on. Not owned; all must outlive the AdminCore.
// `index`, `signer`, `issuer` and `ca` are the default CA's.
struct AdminDeps {
  redis::RequestStore* requests = nullptr;
  redis::ChallengeStore* challenges = nullptr;
  redis::EnrollmentStore* transactions = nullptr;
  redis::CertificateIndex* index = nullptr;
  gateway::SignerClient* signer = nullptr;
  const gateway::ProfileSet* profiles = nullptr;
  gateway::ProfileIssuer* issuer = nullptr;
  gateway::CaCertificates* ca = nullptr;
  // Audit lines (event "audit") for every state change; never a secret.
  // The admin server writes its admin_call and admin_refused lines here too.
  metrics::JsonLogger* audit = nullptr;
  // scep_gateway_admin_calls_total (the admin server); null: not counted.
  gateway::GatewayMetrics* metrics = nullptr;
  // Further issuing CAs by name (gateway::Profile::issuing_ca).
  std::map<std::string, AdminCaDeps, std::less<>> issuing_cas;
  // Issuance notices of profiles with notify.url: a rejection's failed
  // notice (an approval's issued one goes with the transaction's
  // completion when `transactions` QueuesNotices(), here otherwise).
  redis::NoticeOutbox* notices = nullptr;
};

// What Enroll keys a request_id by: SHA-256 (hex) of what the CSR's
// signature covers (subject, key, attributes and requested extensions), so
// the same request signed again (an ECDSA signature differs every time)
// is a retry and one with other SANs is not.
absl::StatusOr<std::string> RequestIdFingerprint(const codec::Csr& csr);

struct AdminOptions {
  // How long CertPoll and retransmissions get an approved certificate
  // (the gateway's issued transaction TTL).
  absl::Duration issued_ttl = absl::Hours(24 * 30);
  // CRL nextUpdate - thisUpdate, as the gateway's --crl_validity_hours.
  absl::Duration crl_validity = absl::Hours(24 * 7);
  absl::Duration default_challenge_ttl = absl::Hours(1);
  absl::Duration max_challenge_ttl = absl::Hours(24 * 30);
  // How long an Enroll call with a request_id holds it while issuing (the
  // gateway's --pending_ttl_seconds); repeats meanwhile are UNAVAILABLE.
  absl::Duration enroll_claim_ttl = absl::Seconds(60);
  // Index entries outlive their certificate by this much (the gateway's
  // PkiOperationOptions::index_grace).
  absl::Duration index_grace = absl::Hours(24 * 365);
  // Bound of the issuance notice queue (the gateway's --notice_queue_max).
  size_t notice_queue_max = 100000;
};

// The admin API's operations, transport-free: each takes the request and
// the authenticated actor and returns the response or a Status whose code
// the gRPC layer passes on (InvalidArgument for bad input, NotFound,
// FailedPrecondition for a wrong state or profile mode, Unavailable when
// Redis or the signer is down). Thread-safe.
class AdminCore {
 public:
  AdminCore(AdminOptions options, AdminDeps deps);

  // admin_requests.cc: challenges and manual approval.
  absl::StatusOr<v1::CreateChallengeResponse> CreateChallenge(
      const v1::CreateChallengeRequest& request, const std::string& actor);
  absl::StatusOr<v1::ListRequestsResponse> ListRequests(
      const v1::ListRequestsRequest& request, const std::string& actor);
  absl::StatusOr<v1::ApproveRequestResponse> ApproveRequest(
      const v1::ApproveRequestRequest& request, const std::string& actor);
  absl::StatusOr<v1::RejectRequestResponse> RejectRequest(
      const v1::RejectRequestRequest& request, const std::string& actor);

  // admin_certificates.cc: inventory, revocation, CRL, enrollment, profiles.
  absl::StatusOr<v1::RevokeCertificateResponse> RevokeCertificate(
      const v1::RevokeCertificateRequest& request, const std::string& actor);
  absl::StatusOr<v1::Certificate> GetCertificate(
      const v1::GetCertificateRequest& request, const std::string& actor);
  absl::StatusOr<v1::ListCertificatesResponse> ListCertificates(
      const v1::ListCertificatesRequest& request, const std::string& actor);
  absl::StatusOr<v1::GetCRLResponse> GetCrl(const v1::GetCRLRequest& request,
                                            const std::string& actor);
  absl::StatusOr<v1::RestoreRevocationsResponse> RestoreRevocations(
      const v1::RestoreRevocationsRequest& request, const std::string& actor);
  // admin_restore.cc: certificates Redis lost, recorded again.
  absl::StatusOr<v1::RestoreCertificatesResponse> RestoreCertificates(
      const v1::RestoreCertificatesRequest& request, const std::string& actor);
  absl::StatusOr<v1::Profile> GetProfile(const v1::GetProfileRequest& request,
                                         const std::string& actor);
  absl::StatusOr<v1::ListProfilesResponse> ListProfiles(
      const v1::ListProfilesRequest& request, const std::string& actor);

  // admin_enroll.cc: enrollment without SCEP; with a request_id, a repeat
  // gets the first call's certificate (transactions of the enrollment
  // store under the scope "admin.{profile}").
  absl::StatusOr<v1::EnrollResponse> Enroll(const v1::EnrollRequest& request,
                                            const std::string& actor);

  // admin_notices.cc: issuance notices given up, listed and queued again.
  absl::StatusOr<v1::ListGivenUpNoticesResponse> ListGivenUpNotices(
      const v1::ListGivenUpNoticesRequest& request, const std::string& actor);
  absl::StatusOr<v1::RequeueNoticesResponse> RequeueNotices(
      const v1::RequeueNoticesRequest& request, const std::string& actor);

  // How many audit lines AdminCores have written on the calling thread, so
  // far: an operation that leaves it unchanged wrote none (AdminService
  // logs such a call itself). Operations run on their caller's thread.
  static uint64_t AuditLinesOnThisThread();

 private:
  // RevokeCertificate of `cert`, which the index lacks: records it again
  // under `profile_name`'s profile once its CA's signature checks out.
  // The record written (revoked when the revocation list has its serial).
  absl::StatusOr<redis::CertificateRecord> RecordLostCertificate(
      X509* cert, const std::string& profile_name);
  // The profile `profile_name` names, once `cert` checks out as signed by
  // its CA: NotFound (no such profile), FailedPrecondition (its CA is not
  // configured) or InvalidArgument (another CA signed it) otherwise.
  absl::StatusOr<const gateway::Profile*> IssuedUnder(X509* cert,
                                                      const std::string& profile_name) const;
  // The response (and audit line) for `certificate` (DER) issued under
  // `profile`; `repeated` when an earlier call with `request_id` issued it.
  absl::StatusOr<v1::EnrollResponse> Enrolled(const gateway::Profile& profile,
                                              std::string certificate,
                                              const std::string& request_id,
                                              const std::string& actor,
                                              bool repeated) const;
  // Logs one audit line: what happened, by whom, to which transaction.
  void Audit(metrics::LogRecord record) const;
  absl::StatusOr<const gateway::Profile*> FindProfile(absl::string_view name,
                                                      absl::StatusCode missing) const;
  // Approving and rejecting one request exclude each other, and a second
  // approval, while one of them acts: a claim of their own on the request
  // in the enrollment store, held for AdminOptions::enroll_claim_ttl at
  // most, under a holder of the call's own (returned, for UnlockDecision,
  // which releases only that holder's claim). Unavailable while another
  // holds it.
  absl::StatusOr<std::string> LockDecision(absl::string_view profile,
                                           absl::string_view transaction_id);
  void UnlockDecision(absl::string_view profile, absl::string_view transaction_id,
                      absl::string_view holder);
  // ApproveRequest of a request ISSUED before: its serial and certificate,
  // from the index or else the transaction; the index's error (Unavailable)
  // or FailedPrecondition naming the serial when neither has it.
  absl::StatusOr<v1::ApproveRequestResponse> AlreadyIssued(
      const gateway::Profile& profile, const redis::ApprovalRequest& request) const;
  // Marks ISSUED an APPROVED request whose transaction an approval already
  // completed (it failed before marking the request): the serial from the
  // transaction's certificate.
  absl::Status FinishIssued(const gateway::Profile& profile,
                            const redis::ApprovalRequest& request, const std::string& actor);
  // Issues an APPROVED request and marks it ISSUED.
  absl::StatusOr<v1::ApproveRequestResponse> IssueApproved(
      const gateway::Profile& profile, const redis::ApprovalRequest& request,
      const std::string& actor);
  absl::StatusOr<v1::Profile> ProfileInfo(const gateway::Profile& profile) const;
  // The issuing CA of `profile`; FailedPrecondition when not configured.
  absl::StatusOr<AdminCaDeps> CaOf(const gateway::Profile& profile) const;

  const AdminOptions options_;
  const AdminDeps deps_;
};

}  // namespace scep::admin

#endif  // SCEP_SERVICES_ADMIN_ADMIN_CORE_H_
