// AdminCore: one-time challenges and manual approval (issue 4). Every
// status change writes an audit line; a challenge never reaches a log.

#include <openssl/rand.h>

#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/distinguished_name.h"
#include "common/crypto/ssl_error.h"
#include "services/admin/admin_core.h"
#include "services/gateway/pki_operation.h"

namespace scep::admin {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;
using redis::ApprovalRequest;
using Status = redis::ApprovalRequest::Status;

constexpr int kChallengeBytes = 24;
constexpr int kDefaultPageSize = 100;
// Free text that reaches audit lines (and, for a challenge's subject,
// Redis) is bounded, whatever a message may hold (64 MiB): a subject of
// several RDNs of at most 64 characters each (RFC 5280 appendix A upper
// bounds) fits well within it, and so does any reason worth reading.
constexpr size_t kMaxSubjectBytes = 1024;
constexpr size_t kMaxReasonBytes = 1024;

std::optional<Status> FromProto(v1::RequestStatus status) {
  switch (status) {
    case v1::REQUEST_STATUS_REQUESTED: return Status::kRequested;
    case v1::REQUEST_STATUS_APPROVED: return Status::kApproved;
    case v1::REQUEST_STATUS_REJECTED: return Status::kRejected;
    case v1::REQUEST_STATUS_ISSUED: return Status::kIssued;
    default: return std::nullopt;
  }
}

v1::RequestStatus ToProto(Status status) {
  switch (status) {
    case Status::kRequested: return v1::REQUEST_STATUS_REQUESTED;
    case Status::kApproved: return v1::REQUEST_STATUS_APPROVED;
    case Status::kRejected: return v1::REQUEST_STATUS_REJECTED;
    case Status::kIssued: return v1::REQUEST_STATUS_ISSUED;
  }
  return v1::REQUEST_STATUS_UNSPECIFIED;
}

LogRecord Transition(absl::string_view action, const ApprovalRequest& request,
                     const std::string& actor, Status from, Status to) {
  LogRecord record(LogLevel::kInfo, "audit");
  record.Str("action", action)
      .Str("actor", actor)
      .Str("profile", request.profile)
      .Str("transaction_id", request.transaction_id)
      .Str("subject", request.subject)
      .Str("from", redis::StatusName(from))
      .Str("to", redis::StatusName(to));
  return record;
}

// A lost race with another operator is not this caller's fault: Aborted
// tells it to read the request again.
absl::Status Raced(const absl::Status& status) {
  if (absl::IsFailedPrecondition(status)) {
    return absl::AbortedError(
        absl::StrCat("the request changed meanwhile (", status.message(), "); retry"));
  }
  return status;
}

absl::Status RequireTransaction(absl::string_view profile, absl::string_view tid) {
  if (profile.empty()) return absl::InvalidArgumentError("profile is required");
  if (tid.empty()) return absl::InvalidArgumentError("transaction_id is required");
  return absl::OkStatus();
}

}  // namespace

AdminCore::AdminCore(AdminOptions options, AdminDeps deps)
    : options_(options), deps_(deps) {}

namespace {

thread_local uint64_t audit_lines_on_this_thread = 0;

}  // namespace

uint64_t AdminCore::AuditLinesOnThisThread() { return audit_lines_on_this_thread; }

void AdminCore::Audit(LogRecord record) const {
  ++audit_lines_on_this_thread;
  if (deps_.audit != nullptr) deps_.audit->Log(record);
}

absl::StatusOr<const gateway::Profile*> AdminCore::FindProfile(
    absl::string_view name, absl::StatusCode missing) const {
  const gateway::Profile* profile =
      name.empty() ? &deps_.profiles->Default() : deps_.profiles->Find(name);
  if (profile == nullptr) {
    return absl::Status(missing, absl::StrCat("no profile named '", name, "'"));
  }
  return profile;
}

absl::StatusOr<v1::CreateChallengeResponse> AdminCore::CreateChallenge(
    const v1::CreateChallengeRequest& request, const std::string& actor) {
  if (request.profile().empty()) return absl::InvalidArgumentError("profile is required");
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.profile(), absl::StatusCode::kFailedPrecondition));
  if (profile->challenge_mode != gateway::Profile::ChallengeMode::kOneTime) {
    return absl::FailedPreconditionError(absl::StrCat(
        "profile '", profile->name, "' does not use one-time challenges"));
  }
  // A subject the gateway could never match would only be found out when
  // the device's request used the challenge up: refused here.
  if (request.subject().size() > kMaxSubjectBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subject: at most ", kMaxSubjectBytes, " bytes"));
  }
  if (!request.subject().empty()) {
    absl::StatusOr<crypto::X509NamePtr> named = crypto::ParseDistinguishedName(request.subject());
    if (!named.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subject: ", named.status().message(),
          " (write it as CN=laptop-7 or CN=laptop-7, O=Example Fleet)"));
    }
  }
  absl::Duration ttl = absl::Seconds(request.ttl_seconds());
  if (request.ttl_seconds() == 0) ttl = options_.default_challenge_ttl;
  if (ttl < absl::Seconds(1) || ttl > options_.max_challenge_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_seconds must be 1 to ", absl::ToInt64Seconds(options_.max_challenge_ttl)));
  }
  unsigned char random[kChallengeBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return crypto::SslInternal("random challenge");
  }
  v1::CreateChallengeResponse response;
  response.set_challenge(absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(random), sizeof(random))));
  const absl::Time now = absl::Now();
  RETURN_IF_ERROR(deps_.challenges->Create(profile->name, response.challenge(),
                                           request.subject(), ttl));
  response.set_expires_unix(absl::ToUnixSeconds(now + ttl));
  Audit(LogRecord(LogLevel::kInfo, "audit")
            .Str("action", "create_challenge")
            .Str("actor", actor)
            .Str("profile", profile->name)
            .WholeStr("subject", request.subject())  // kMaxSubjectBytes
            .Int("ttl_seconds", absl::ToInt64Seconds(ttl)));
  return response;
}

absl::StatusOr<v1::ListRequestsResponse> AdminCore::ListRequests(
    const v1::ListRequestsRequest& request, const std::string& actor) {
  // A mistyped name is not "no requests" (requests of a profile since
  // removed: list every profile's with an empty name).
  if (!request.profile().empty()) {
    RETURN_IF_ERROR(FindProfile(request.profile(), absl::StatusCode::kNotFound).status());
  }
  std::optional<Status> status;
  if (request.status() != v1::REQUEST_STATUS_UNSPECIFIED) {
    status = FromProto(request.status());
    if (!status.has_value()) return absl::InvalidArgumentError("unknown status");
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  ASSIGN_OR_RETURN(redis::RequestPage page,
                   deps_.requests->List(request.profile(), status,
                                        request.page_token(), page_size));
  v1::ListRequestsResponse response;
  for (const ApprovalRequest& r : page.requests) {
    v1::ApprovalRequest* out = response.add_requests();
    out->set_profile(r.profile);
    out->set_transaction_id(r.transaction_id);
    out->set_subject(r.subject);
    out->set_status(ToProto(r.status));
    out->set_serial_hex(r.serial_hex);
    out->set_actor(r.actor);
    out->set_created_unix(absl::ToUnixSeconds(r.created));
    out->set_updated_unix(absl::ToUnixSeconds(r.updated));
    // A static shared challenge is inside the CSR: it leaves the gateway
    // only where the profile's notices carry CSRs too (notify.csr).
    const gateway::Profile* of = deps_.profiles->Find(r.profile);
    if (of != nullptr && of->notice_csr) out->set_csr(r.csr);
  }
  response.set_next_page_token(page.next_page_token);
  return response;
}

absl::StatusOr<v1::ApproveRequestResponse> AdminCore::ApproveRequest(
    const v1::ApproveRequestRequest& request, const std::string& actor) {
  RETURN_IF_ERROR(RequireTransaction(request.profile(), request.transaction_id()));
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.profile(), absl::StatusCode::kNotFound));
  ASSIGN_OR_RETURN(const std::string holder,
                   LockDecision(profile->name, request.transaction_id()));
  absl::Cleanup unlock = [&] {
    UnlockDecision(profile->name, request.transaction_id(), holder);
  };
  ASSIGN_OR_RETURN(std::optional<ApprovalRequest> stored,
                   deps_.requests->Get(profile->name, request.transaction_id()));
  if (!stored.has_value()) return absl::NotFoundError("no such request (or it expired)");
  switch (stored->status) {
    case Status::kRejected:
      return absl::FailedPreconditionError(gateway::kRejectedText);
    case Status::kIssued:
      return AlreadyIssued(*profile, *stored);
    case Status::kRequested:
      RETURN_IF_ERROR(Raced(deps_.requests->Transition(
          profile->name, stored->transaction_id, Status::kRequested,
          Status::kApproved, actor, "")));
      Audit(Transition("approve", *stored, actor, Status::kRequested, Status::kApproved));
      stored->status = Status::kApproved;
      break;
    case Status::kApproved:
      break;  // an earlier issuance failed: retry it
  }
  absl::StatusOr<v1::ApproveRequestResponse> issued = IssueApproved(*profile, *stored, actor);
  // The profile's policy refused the stored request (changed since it was
  // parked): the request's state, not the caller's right.
  if (absl::IsPermissionDenied(issued.status())) {
    return absl::FailedPreconditionError(issued.status().message());
  }
  return issued;
}

namespace {

// The scope of the decision claims (LockDecision): profile names are
// [a-z0-9-_], so it never meets a device's transaction or Enroll's.
std::string DecisionScope(absl::string_view profile) {
  return absl::StrCat("decide.", profile);
}

constexpr int kDecisionHolderBytes = 16;

}  // namespace

absl::StatusOr<std::string> AdminCore::LockDecision(absl::string_view profile,
                                                    absl::string_view transaction_id) {
  // A holder of this call's own: a call that outlived its claim must not
  // release the claim a later call took since.
  unsigned char random[kDecisionHolderBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return crypto::SslInternal("random decision holder");
  }
  std::string holder = absl::StrCat(
      "decision.",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(random),
                                               sizeof(random))));
  ASSIGN_OR_RETURN(redis::Transaction claim,
                   deps_.transactions->ClaimTransaction(DecisionScope(profile), transaction_id,
                                                        holder, options_.enroll_claim_ttl));
  if (claim.state == redis::Transaction::State::kClaimed) return holder;
  return absl::UnavailableError(
      "another approval or rejection of this request is in progress; retry later");
}

void AdminCore::UnlockDecision(absl::string_view profile, absl::string_view transaction_id,
                               absl::string_view holder) {
  // Should this fail (Redis down), the claim ends with its lease; a claim
  // another call took since (FailedPrecondition) is left to it.
  (void)deps_.transactions->ReleaseTransaction(DecisionScope(profile), transaction_id, holder);
}

absl::StatusOr<v1::ApproveRequestResponse> AdminCore::AlreadyIssued(
    const gateway::Profile& profile, const ApprovalRequest& request) const {
  v1::ApproveRequestResponse response;
  response.set_serial_hex(request.serial_hex);
  ASSIGN_OR_RETURN(std::optional<redis::CertificateRecord> record,
                   deps_.index->Get(request.serial_hex));
  if (record.has_value()) {
    response.set_certificate(std::move(record->certificate));
    return response;
  }
  // The index lost it (Redis restored from an older backup): the device's
  // transaction may still hold it.
  ASSIGN_OR_RETURN(std::optional<redis::Transaction> transaction,
                   deps_.transactions->GetTransaction(profile.name, request.transaction_id));
  if (transaction.has_value() && transaction->state == redis::Transaction::State::kIssued &&
      !transaction->certificate.empty()) {
    response.set_certificate(transaction->certificate);
    return response;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the request was issued as serial ", request.serial_hex,
      " but neither the certificate index nor its transaction has that certificate"));
}

absl::Status AdminCore::FinishIssued(const gateway::Profile& profile,
                                     const ApprovalRequest& request, const std::string& actor) {
  ASSIGN_OR_RETURN(std::optional<redis::Transaction> transaction,
                   deps_.transactions->GetTransaction(profile.name, request.transaction_id));
  if (!transaction.has_value() || transaction->state != redis::Transaction::State::kIssued ||
      transaction->certificate.empty()) {
    return absl::OkStatus();  // nothing to finish
  }
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, crypto::FromDer<crypto::X509Ptr>(
                                             transaction->certificate, d2i_X509, "certificate"));
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert.get()));
  RETURN_IF_ERROR(Raced(deps_.requests->Transition(profile.name, request.transaction_id,
                                                   Status::kApproved, Status::kIssued,
                                                   actor, serial)));
  Audit(Transition("issue", request, actor, Status::kApproved, Status::kIssued)
            .Str("serial", serial));
  return absl::OkStatus();
}

namespace {

// A notice about a request parked for approval, decided by an operator.
redis::Notice ApprovalNotice(const gateway::Profile& profile, const redis::ApprovalRequest& request,
                             redis::Notice::Event event) {
  redis::Notice notice;
  notice.event = event;
  notice.profile = request.profile;
  notice.transaction_id = request.transaction_id;
  notice.message_type = "PKCSReq";
  if (profile.notice_csr) notice.csr = request.csr;
  notice.time = absl::Now();
  return notice;
}

}  // namespace

absl::StatusOr<v1::ApproveRequestResponse> AdminCore::IssueApproved(
    const gateway::Profile& profile, const ApprovalRequest& request,
    const std::string& actor) {
  // A retry after the transaction was completed (but not marked ISSUED)
  // must not issue a second certificate.
  ASSIGN_OR_RETURN(std::optional<redis::Transaction> transaction,
                   deps_.transactions->GetTransaction(profile.name,
                                                      request.transaction_id));
  std::string certificate;
  const bool issue = !transaction.has_value() ||
                     transaction->state != redis::Transaction::State::kIssued;
  if (!issue) {
    certificate = transaction->certificate;
  } else {
    absl::StatusOr<codec::Csr> csr = codec::ParseCsr(request.csr);
    if (!csr.ok()) {
      return absl::DataLossError(
          absl::StrCat("stored CSR unreadable: ", csr.status().message()));
    }
    ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(profile));
    ASSIGN_OR_RETURN(certificate, ca.issuer->Issue(profile, *csr));
  }
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, crypto::FromDer<crypto::X509Ptr>(
                                             certificate, d2i_X509, "certificate"));
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert.get()));
  if (issue) {
    // Issue() recorded it in the certificate index: the transaction keeps
    // the serial only. The issued notice goes with the completion.
    redis::Notice notice = ApprovalNotice(profile, request, redis::Notice::Event::kIssued);
    notice.certificate = certificate;
    const bool notify = profile.notice_issued;
    redis::NoticeToQueue to_queue;
    if (notify && deps_.transactions->QueuesNotices()) {
      to_queue = {&notice, options_.notice_queue_max};
    }
    absl::Status completed = deps_.transactions->CompleteIndexedTransaction(
        profile.name, request.transaction_id, request.fingerprint, certificate, serial,
        options_.issued_ttl, to_queue);
    if (absl::IsFailedPrecondition(completed)) {
      // Rejected (or issued by another approval) while this call signed,
      // which only happens when it outlived its decision claim: nobody gets
      // this certificate, so it must not stay valid.
      constexpr int kCessationOfOperation = 5;
      absl::Status revoked =
          deps_.index->Revoke(serial, kCessationOfOperation, absl::Now()).status();
      Audit(LogRecord(LogLevel::kWarning, "audit")
                .Str("action", "revoke_unused")
                .Str("actor", actor)
                .Str("profile", profile.name)
                .Str("transaction_id", request.transaction_id)
                .Str("serial", serial)
                .Int("reason", kCessationOfOperation)
                .Str("error", revoked.ok() ? "" : std::string(revoked.message())));
      return absl::AbortedError(absl::StrCat(
          "the request changed while its certificate was issued (", completed.message(),
          "); that certificate was ", revoked.ok() ? "revoked" : "NOT revoked: revoke ",
          revoked.ok() ? "" : serial));
    }
    RETURN_IF_ERROR(completed);
    if (notify && to_queue.notice == nullptr && deps_.notices != nullptr) {
      RETURN_IF_ERROR(deps_.notices->Add(notice));
    }
  }
  RETURN_IF_ERROR(Raced(deps_.requests->Transition(profile.name, request.transaction_id,
                                                   Status::kApproved, Status::kIssued,
                                                   actor, serial)));
  Audit(Transition("issue", request, actor, Status::kApproved, Status::kIssued)
            .Str("serial", serial));
  v1::ApproveRequestResponse response;
  response.set_serial_hex(serial);
  response.set_certificate(std::move(certificate));
  return response;
}

absl::StatusOr<v1::RejectRequestResponse> AdminCore::RejectRequest(
    const v1::RejectRequestRequest& request, const std::string& actor) {
  RETURN_IF_ERROR(RequireTransaction(request.profile(), request.transaction_id()));
  if (request.reason().size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason: at most ", kMaxReasonBytes, " bytes"));
  }
  ASSIGN_OR_RETURN(const std::string holder,
                   LockDecision(request.profile(), request.transaction_id()));
  absl::Cleanup unlock = [&] {
    UnlockDecision(request.profile(), request.transaction_id(), holder);
  };
  ASSIGN_OR_RETURN(std::optional<ApprovalRequest> stored,
                   deps_.requests->Get(request.profile(), request.transaction_id()));
  if (!stored.has_value()) return absl::NotFoundError("no such request (or it expired)");
  constexpr absl::string_view kIssuedAlready =
      "the request was issued already; revoke its certificate instead";
  if (stored->status == Status::kIssued) return absl::FailedPreconditionError(kIssuedAlready);
  const gateway::Profile* profile = deps_.profiles->Find(stored->profile);
  const absl::Duration ttl =
      profile != nullptr ? profile->approval_ttl : gateway::Profile().approval_ttl;
  // The transaction first: it decides (atomically) whether the device gets
  // a certificate. Also repeated on a second call, so a rejection whose
  // request update failed (Redis down) is completed by calling again.
  absl::Status rejected =
      deps_.transactions->RejectTransaction(stored->profile, stored->transaction_id, ttl);
  if (absl::IsFailedPrecondition(rejected)) {
    // An approval completed the transaction and failed before marking the
    // request: the device gets that certificate; the request says so.
    if (profile != nullptr && stored->status == Status::kApproved) {
      RETURN_IF_ERROR(FinishIssued(*profile, *stored, actor));
    }
    return absl::FailedPreconditionError(kIssuedAlready);
  }
  if (!rejected.ok() && !absl::IsNotFound(rejected)) return rejected;
  if (stored->status != Status::kRejected) {
    // Queued before the transition: should that fail, a retry queues it
    // again (at least once), never not at all.
    if (profile != nullptr && profile->notice_failed && deps_.notices != nullptr) {
      redis::Notice notice = ApprovalNotice(*profile, *stored, redis::Notice::Event::kFailed);
      notice.fail_info = "badRequest";
      notice.fail_info_text = std::string(gateway::kRejectedText);
      RETURN_IF_ERROR(deps_.notices->Add(notice));
    }
    RETURN_IF_ERROR(Raced(deps_.requests->Transition(
        stored->profile, stored->transaction_id, stored->status, Status::kRejected,
        actor, "")));
    Audit(Transition("reject", *stored, actor, stored->status, Status::kRejected)
              .WholeStr("reason", request.reason()));  // kMaxReasonBytes
  }
  return v1::RejectRequestResponse();
}

}  // namespace scep::admin
