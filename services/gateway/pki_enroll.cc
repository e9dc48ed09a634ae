// PKCSReq and RenewalReq (RFC 8894 sections 3.3.1 and 3.3.1.2): the order
// of checks, manual approval, and issuing once per transaction (the checks
// themselves: pki_authorize.cc).

#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/redis/unconfirmed_write.h"
#include "services/gateway/pki_operation.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using redis::Transaction;

}  // namespace

PkiOutcome PkiOperation::HandleEnrollment(const Profile& profile, Request& req,
                                          const CaSet& ca) {
  bool renewal = req.msg.attributes.message_type == MessageType::kRenewalReq;
  req.renewal = renewal;
  if (renewal) {
    std::optional<PkiOutcome> refused = CheckRenewalSigner(profile, req, ca);
    if (refused.has_value()) return *std::move(refused);
  }
  // Until the nonce is recorded (PKCSReq), a refusal records it first.
  absl::StatusOr<std::string> plain = signer_->Decrypt(req.msg.content);
  if (absl::IsUnavailable(plain.status())) return UnavailableAfterNonce(req, "signer");
  if (!plain.ok()) {
    return Refuse(profile, req, FailInfo::kBadMessageCheck,
                  "cannot decrypt pkcsPKIEnvelope with the RA key");
  }
  // Kept for a failed notice, and for the external verifier (the CSR as
  // the device sent it, not encoded again).
  if (profile.notice_failed || profile.challenge_mode == Profile::ChallengeMode::kExternal) {
    req.csr_der = *plain;
  }
  req.challenge_open = profile.challenge_mode != Profile::ChallengeMode::kStatic;
  // The pkiMessage's signature verified with its signer certificate's key;
  // when that is the CSR's key, possession is shown and the CSR's
  // self-signature is checked below, or by the signer before it issues.
  absl::StatusOr<codec::Csr> csr =
      codec::ParseCsr(*plain, req.msg.signer_certificate.get(),
                      codec::CsrSignature::kUnlessSignedWithItsKey);
  if (!csr.ok()) {
    return Refuse(profile, req, FailInfo::kBadMessageCheck,
                  absl::StrCat("certificate request: ", csr.status().message()));
  }
  if (!csr->challenge_password.has_value() || csr->challenge_password->empty()) {
    req.challenge_open = false;
  }
  if (!renewal) {
    absl::StatusOr<bool> promoted = PromotedRenewal(profile, req, *csr, ca);
    if (!promoted.ok()) return Unavailable("transaction store");
    if (*promoted) {
      // Authenticated as a RenewalReq is, by the certificate it is signed
      // with; its nonce is recorded first, as for any refused PKCSReq.
      if (std::optional<PkiOutcome> refused = RecordNonce(profile, req)) {
        return *std::move(refused);
      }
      if (std::optional<PkiOutcome> refused = CheckRenewalSigner(profile, req, ca)) {
        return *std::move(refused);
      }
      renewal = req.renewal = true;
    }
  }
  // A request carrying the profile's shared secret passes the challenge
  // whether or not it is a retransmission, and the transaction claim
  // answers a retransmission from its record: no look-up first (one Redis
  // round trip less per enrollment).
  const bool shared_secret_matches =
      !renewal && profile.challenge_mode == Profile::ChallengeMode::kStatic &&
      csr->challenge_password.has_value() && !csr->challenge_password->empty() &&
      SecretEquals(*csr->challenge_password, profile.challenge);
  const bool subject_limited =
      profile.per_subject_per_day > 0 && extras_.rate_limiter != nullptr;
  // The common path goes straight to the signer, which verifies the CSR's
  // self-signature before it issues (one RSA verification less here);
  // every other path checks it now, before anything is stored or asked.
  const bool common_path = shared_secret_matches && !subject_limited &&
                           profile.approval != Profile::Approval::kManual;
  if (!common_path) {
    if (absl::Status signature = codec::VerifyCsrSignature(*csr); !signature.ok()) {
      return Refuse(profile, req, FailInfo::kBadMessageCheck,
                    absl::StrCat("certificate request: ", signature.message()));
    }
  }
  if (absl::Status policy = ProfileIssuer::CheckPolicy(profile, *csr); !policy.ok()) {
    return Refuse(profile, req, FailInfo::kBadRequest, policy.message());
  }
  if (common_path) {
    // The nonce is recorded with the claim.
    return IssueOnce(profile, req, *csr, ca);
  }
  if (req.nonce_profile == nullptr) {
    if (std::optional<PkiOutcome> refused = RecordNonce(profile, req)) {
      return *std::move(refused);
    }
  }
  if (renewal) {
    // A renewal keeps the identity; the key may change. Under a subject
    // template the identity is what the template makes of the request
    // (a device renews with the subject it was configured with, not the
    // certificate's, which the template extended).
    absl::StatusOr<bool> same = ProfileIssuer::IssuesSubject(
        profile, X509_REQ_get_subject_name(csr->request.get()),
        X509_get_subject_name(req.msg.signer_certificate.get()));
    if (!same.ok()) return Failure(req, FailInfo::kBadRequest, same.status().message());
    if (!*same) {
      return Failure(req, FailInfo::kBadRequest,
                     "renewal must keep the subject of the current certificate");
    }
  }
  // The same request again (a retransmission, or a device re-sending its
  // PKCSReq while it awaits approval) is answered from its transaction: it
  // passes the challenge it passed before (which may since have been used
  // up or rotated) and is not counted again against the subject's limit.
  // A same-key renewal in the transaction (authenticated by its
  // certificate) is a new certificate and counted.
  bool renews_in_transaction = false;
  if ((!renewal && !shared_secret_matches) || subject_limited) {
    absl::StatusOr<std::optional<Transaction>> known =
        store_->GetTransaction(profile.name, req.msg.attributes.transaction_id);
    if (!known.ok()) return UnavailableAfterNonce(req, "transaction store");
    req.repeats = known->has_value() && (*known)->fingerprint == csr->fingerprint;
    renews_in_transaction = req.repeats && RenewsInTransaction(profile, req, **known);
  }
  if (!renewal && !shared_secret_matches && !req.repeats) {
    std::optional<PkiOutcome> refused = CheckChallenge(profile, req, *csr);
    if (refused.has_value()) return *std::move(refused);
  }
  std::optional<redis::RateLimit> counted;
  if (subject_limited && (!req.repeats || renews_in_transaction)) {
    // Counted once the request is authenticated (challenge or current
    // certificate): a stranger who knows a subject cannot use up its
    // quota. Keyed by a digest: subjects are client-chosen and unbounded.
    // The subject is the one to be issued (under a template, "CN=a,OU=x"
    // and "CN=a" may both give "CN=a,O=Fleet"), in canonical form (string
    // type, case and spacing do not make another subject).
    const X509_NAME* requested = X509_REQ_get_subject_name(csr->request.get());
    absl::StatusOr<crypto::X509NamePtr> issued = ProfileIssuer::IssuedSubject(profile, requested);
    const std::string subject_key =
        codec::SubjectDigestHex(issued.ok() ? issued->get() : requested);
    redis::RateLimit limit{absl::StrCat(profile.name, ":subject:", subject_key),
                           profile.per_subject_per_day, absl::Hours(24)};
    absl::StatusOr<redis::RateDecision> decision = extras_.rate_limiter->Check({limit});
    if (!decision.ok()) return UnavailableAfterNonce(req, "rate limiter");
    if (!decision->allowed) {
      if (extras_.metrics != nullptr) extras_.metrics->RateLimited(decision->exceeded);
      return Failure(req, FailInfo::kBadRequest,
                     "too many requests for this subject; try again later");
    }
    counted = std::move(limit);
  }
  PkiOutcome outcome = !renewal && profile.approval == Profile::Approval::kManual
                           ? AwaitApproval(profile, req, *csr, *plain, ca)
                           : IssueOnce(profile, req, *csr, ca);
  // Counted for a new certificate: given back when this request got none
  // (503 or 500: before session 27 a few outages used up a subject's day;
  // the device's retry counts instead) or was answered from its
  // transaction (an identical twin got there first and counted).
  if (counted.has_value() && (outcome.http_status != 200 || !req.claimed)) {
    (void)extras_.rate_limiter->Refund(*counted);
  }
  return outcome;
}

PkiOutcome PkiOperation::AwaitApproval(const Profile& profile, Request& req,
                                       const codec::Csr& csr, const std::string& csr_der,
                                       const CaSet& ca) {
  if (extras_.requests == nullptr) return UnavailableAfterNonce(req, "request store");
  const std::string& tid = req.msg.attributes.transaction_id;
  absl::StatusOr<Transaction> txn = store_->ClaimTransaction(
      profile.name, tid, csr.fingerprint, profile.approval_ttl);
  if (!txn.ok()) return UnavailableAfterNonce(req, "transaction store");
  if (txn->state != Transaction::State::kClaimed && txn->fingerprint != csr.fingerprint) {
    return Failure(req, FailInfo::kBadRequest, kTransactionReusedText);
  }
  switch (txn->state) {
    case Transaction::State::kIssued:
      if (RenewsInTransaction(profile, req, *txn)) return IssueOnce(profile, req, csr, ca);
      return SuccessWithCertificate(req, txn->certificate);
    case Transaction::State::kRejected:
      return Failure(req, FailInfo::kBadRequest, kRejectedText);
    case Transaction::State::kPending: return Pending(req);
    case Transaction::State::kClaimed: break;
  }
  req.claimed = true;
  redis::ApprovalRequest record;
  record.profile = profile.name;
  record.transaction_id = tid;
  record.subject = codec::SubjectText(X509_REQ_get_subject_name(csr.request.get()));
  record.csr = csr_der;
  record.fingerprint = csr.fingerprint;
  record.created = record.updated = absl::Now();
  absl::Status created = extras_.requests->Create(record, profile.approval_ttl);
  if (!created.ok() && !absl::IsAlreadyExists(created)) {
    (void)store_->ReleaseTransaction(profile.name, tid, csr.fingerprint);
    return UnavailableAfterNonce(req, "request store");
  }
  // RFC 8894 section 3.3.2: PENDING; the device polls with CertPoll.
  if (created.ok() && extras_.metrics != nullptr) {
    extras_.metrics->RequestPending(profile.name);
  }
  // Parked for approval, the transaction is done with its challenge.
  SpendChallenge(profile, req, csr);
  return Pending(req);
}

PkiOutcome PkiOperation::IssueOnce(const Profile& profile, Request& req,
                                   const codec::Csr& csr, const CaSet& ca) {
  const std::string& tid = req.msg.attributes.transaction_id;
  const std::string& fingerprint = csr.fingerprint;
  absl::StatusOr<Transaction> txn;
  if (req.nonce_profile == nullptr) {
    absl::StatusOr<std::optional<Transaction>> claimed = store_->RecordNonceAndClaim(
        profile.name, req.msg.attributes.sender_nonce, req.message_id,
        options_.nonce_ttl, tid, fingerprint, options_.pending_ttl);
    // The store left neither the nonce nor the claim behind.
    if (!claimed.ok()) return Unavailable("transaction store");
    if (!claimed->has_value()) return Failure(req, FailInfo::kBadRequest, kReplayText);
    req.nonce_profile = &profile;
    req.retransmission = (*claimed)->retransmission;
    txn = **std::move(claimed);
  } else {
    txn = store_->ClaimTransaction(profile.name, tid, fingerprint, options_.pending_ttl);
  }
  // A twin of this request being issued right now (pending under the same
  // fingerprint): wait for its certificate rather than issuing a second one.
  auto wait_for_twin = [&] {
    const absl::Time wait_until = absl::Now() + options_.pending_wait;
    while (txn.ok() && txn->state == Transaction::State::kPending &&
           txn->fingerprint == fingerprint && absl::Now() < wait_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      txn = store_->ClaimTransaction(profile.name, tid, fingerprint,
                                     options_.pending_ttl);
    }
  };
  wait_for_twin();
  bool renews = req.renewal;
  if (txn.ok() && txn->fingerprint == fingerprint &&
      RenewsInTransaction(profile, req, *txn)) {
    // The sender holds this transaction's certificate and asks again: a
    // renewal in the same transaction, authenticated like a RenewalReq by
    // that certificate (ours, valid now, not revoked). Before the profile's
    // renewal window it gets that certificate again, as before.
    if (std::optional<PkiOutcome> refused = CheckRenewalSigner(profile, req, ca)) {
      return *std::move(refused);
    }
    absl::StatusOr<bool> reopened = store_->ReopenIssuedTransaction(
        profile.name, tid, fingerprint, txn->certificate, options_.pending_ttl);
    if (!reopened.ok()) return UnavailableAfterNonce(req, "transaction store");
    if (*reopened) {
      txn->state = Transaction::State::kClaimed;
      req.reopened_certificate = txn->certificate;
    } else {
      // Changed since the claim (a twin reopened it first): as it is now.
      txn = store_->ClaimTransaction(profile.name, tid, fingerprint, options_.pending_ttl);
      wait_for_twin();
    }
    renews = true;
  }
  if (!txn.ok()) return UnavailableAfterNonce(req, "transaction store");
  if (txn->state == Transaction::State::kRejected) {
    return Failure(req, FailInfo::kBadRequest, kRejectedText);
  }
  if (txn->state != Transaction::State::kClaimed && txn->fingerprint != fingerprint) {
    return Failure(req, FailInfo::kBadRequest, kTransactionReusedText);
  }
  if (txn->state == Transaction::State::kIssued) {
    // Retransmission (RFC 8894 section 3.3.1): the same certificate again.
    return SuccessWithCertificate(req, txn->certificate);
  }
  if (txn->state == Transaction::State::kPending) {
    // Its twin holds the claim still. Should that request's gateway have
    // died, its claim would end with it and this device, told PENDING,
    // would poll for nothing: the request is parked with the transaction
    // so that a CertPoll after the holder's lease can finish it.
    absl::StatusOr<std::optional<Transaction>> parked = store_->ParkPendingClaim(
        profile.name, tid, fingerprint, csr.der, options_.parked_ttl);
    if (!parked.ok()) return UnavailableAfterNonce(req, "transaction store");
    if (parked->has_value() && (*parked)->state == Transaction::State::kIssued &&
        (*parked)->fingerprint == fingerprint) {
      return SuccessWithCertificate(req, (*parked)->certificate);  // just finished
    }
    if (extras_.metrics != nullptr) extras_.metrics->ClaimParked(profile.name);
    return Pending(req);
  }
  if (txn->taken_over && extras_.metrics != nullptr) {
    extras_.metrics->ClaimTakenOver(profile.name, "request");
  }
  req.claimed = true;
  return SpentAfter(profile, req, csr, IssueClaimed(profile, req, csr, renews));
}

namespace {

// A warning about a signed certificate that is not handed out, or whose
// records or notice are missing: one JSON line (extras.log) naming the
// profile, the transaction and the serial. Callers add the reason; never
// a secret.
metrics::LogRecord IssuedCertificateWarning(absl::string_view event, const Profile& profile,
                                            absl::string_view transaction_id,
                                            absl::string_view serial_hex) {
  metrics::LogRecord line(metrics::LogLevel::kWarning, event);
  line.Str("profile", profile.name)
      .Str("transaction_id", transaction_id)
      .Str("serial", serial_hex);
  return line;
}

}  // namespace

PkiOutcome PkiOperation::IssueClaimed(const Profile& profile, Request& req,
                                      const codec::Csr& csr, bool renews) {
  const std::string& tid = req.msg.attributes.transaction_id;
  const std::string& fingerprint = csr.fingerprint;
  // Undoes the claim when nothing is issued. A parked request stays parked
  // (ReleaseTransaction), for the next try; a transaction this renewal
  // reopened is issued again with the certificate it had, so a later
  // retransmission of its first request gets that one, not a second.
  auto release = [&] {
    if (req.reopened_certificate.empty()) {
      (void)store_->ReleaseTransaction(profile.name, tid, fingerprint);
    } else {
      (void)store_->CompleteTransaction(profile.name, tid, fingerprint,
                                        req.reopened_certificate, options_.issued_ttl);
    }
  };
  // One signer call issues the certificate and signs the CertRep.
  absl::StatusOr<CertRepRequest> reply = SuccessReply(req);
  if (!reply.ok()) {
    release();
    return InternalError();
  }
  absl::StatusOr<IssuedCertRep> issued = issuer_.IssueWithReply(profile, csr, *reply);
  if (!issued.ok()) {
    release();
    if (absl::IsUnavailable(issued.status())) return UnavailableAfterNonce(req, "signer");
    if (absl::IsPermissionDenied(issued.status())) {
      // The signer's own check of the CSR's self-signature.
      return Failure(req, FailInfo::kBadMessageCheck,
                     absl::StrCat("certificate request: ", issued.status().message()));
    }
    return Failure(req, FailInfo::kBadRequest,
                   absl::StrCat("cannot issue: ", issued.status().message()));
  }
  if (renews && extras_.metrics != nullptr) extras_.metrics->CertificateRenewed(profile.name);
  // The certificate index (same Redis) already holds the certificate: the
  // transaction keeps only its serial. The issued notice goes with the
  // completion, in the same Redis step, when the store can take it.
  const bool notify = profile.notice_issued && extras_.notices != nullptr;
  redis::Notice notice;
  redis::NoticeToQueue to_queue;
  if (notify) {
    notice = IssuedNotice(profile, req, csr, issued->certificate);
    if (store_->QueuesNotices()) to_queue = {&notice, options_.notice_queue_max};
  }
  absl::Status stored = store_->CompleteIndexedTransaction(
      profile.name, tid, fingerprint, issued->certificate, issued->serial_hex,
      options_.issued_ttl, to_queue);
  if (redis::IsUnconfirmedWrite(stored)) {
    // --redis_wait_replicas: Redis ran the completion (and the index entry
    // before it) but went away before a replica confirmed them; a failover
    // may lose both, and a certificate missing from the index cannot be
    // found or revoked by serial. Withheld: the device's retry records it
    // anew and gets it (the signer answers a transaction's repeated request
    // from its recent issuances), or, past that, a new one.
    if (extras_.log != nullptr) {
      extras_.log->Log(
          IssuedCertificateWarning("certificate_withheld", profile, tid, issued->serial_hex)
              .Str("reason", "Redis went away before replicas confirmed its records"));
    }
    return UnavailableAfterNonce(req, "transaction store");
  }
  if (absl::IsFailedPrecondition(stored)) {
    // This request lost its claim while issuing (it stalled past its lease
    // and another request issued the transaction, or an operator rejected
    // it): one certificate per transaction, so the device gets what the
    // transaction records and this one is never handed out.
    absl::StatusOr<std::optional<Transaction>> now = store_->GetTransaction(profile.name, tid);
    if (now.ok() && now->has_value() && (*now)->fingerprint == fingerprint) {
      if (extras_.log != nullptr) {
        extras_.log->Log(
            IssuedCertificateWarning("certificate_not_handed_out", profile, tid,
                                     issued->serial_hex)
                .Str("reason", "signed after its transaction's claim was lost"));
      }
      if ((*now)->state == Transaction::State::kIssued) {
        return SuccessWithCertificate(req, (*now)->certificate);
      }
      if ((*now)->state == Transaction::State::kRejected) {
        return Failure(req, FailInfo::kBadRequest, kRejectedText);
      }
    }
  }
  if (!stored.ok() || !issued->indexed.ok()) {
    // Redis has not taken the certificate's records (it is down: they wait
    // in this process's write journal, lost should it die before Redis is
    // back, and a device holding the certificate sends nothing more). Until
    // session 19 it was handed out all the same. Withheld: the device's
    // retry gets it once its records are in Redis (the journal applied, or
    // the request issued again: the signer answers a transaction's
    // repeated request from its recent issuances, no second signature).
    if (extras_.log != nullptr) {
      extras_.log->Log(
          IssuedCertificateWarning("certificate_withheld", profile, tid, issued->serial_hex)
              .Str("reason", "Redis did not record it")
              .Str("error", (stored.ok() ? issued->indexed : stored).message()));
    }
    return UnavailableAfterNonce(req, "transaction store");
  }
  if (notify && to_queue.notice == nullptr) {
    // A store without its own queue (memory): queued after the completion.
    if (absl::Status queued = extras_.notices->Add(notice); !queued.ok()) {
      if (extras_.log != nullptr) {
        extras_.log->Log(
            IssuedCertificateWarning("issued_notice_not_queued", profile, tid, issued->serial_hex)
                .Str("error", queued.message()));
      }
    }
  }
  return Signed(req, std::move(issued->pki_message), reply->attributes, "SUCCESS");
}

}  // namespace scep::gateway
