#ifndef SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_
#define SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/codec/pki_message.h"
#include "common/metrics/json_log.h"
#include "common/redis/certificate_index.h"
#include "common/redis/enrollment_store.h"
#include "common/redis/rate_limiter.h"
#include "common/redis/request_store.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/challenge_verifier.h"
#include "services/gateway/crl_cache.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/profile_issuer.h"
#include "services/gateway/profile.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

struct PkiOperationOptions {
  absl::Duration nonce_ttl = absl::Hours(24);
  absl::Duration pending_ttl = absl::Seconds(60);
  absl::Duration issued_ttl = absl::Hours(24 * 30);
  // How long a retransmission waits for a concurrent twin to finish.
  absl::Duration pending_wait = absl::Seconds(3);
  // How long a request parked for CertPoll is kept (a twin still pending
  // after pending_wait; see EnrollmentStore::ParkPendingClaim).
  absl::Duration parked_ttl = absl::Hours(24);
  // Index entries outlive their certificate by this much.
  absl::Duration index_grace = absl::Hours(24 * 365);
  // A renewal signed with a certificate of this CA that the index lacks
  // (Redis lost it): false refuses it (badCertId); true records it again
  // and renews unless the revocation list has its serial
  // (--renewal_reindex, for disaster recovery).
  bool renewal_reindex = false;
  // The profile served at /scep (ProfileSet::Default). A certificate whose
  // index record names no profile (recorded before records named one, when
  // the gateway served a single profile) renews under this one.
  std::string default_profile = "default";
  // The profiles this CA issues for (ScepService sets it per CA). Which of
  // them issued a certificate the index lost cannot be told, so
  // renewal_reindex records one again only under a profile that each of
  // them renews under (itself, and those in its renewal_from_profiles).
  // Empty: never.
  std::vector<std::string> ca_profiles;
  // CRL nextUpdate - thisUpdate; a cached CRL is re-signed when it has
  // less than half of this left or a revocation happened.
  absl::Duration crl_validity = absl::Hours(24 * 7);
  // Bound of the issuance notice queue (--notice_queue_max).
  size_t notice_queue_max = 100000;
};

// What PKIOperation answers: a CertRep (HTTP 200), or an HTTP error when
// the request cannot be parsed (400) or a dependency is down (503).
struct PkiOutcome {
  int http_status = 200;
  std::string body;     // CertRep DER for 200, text otherwise
  std::string summary;  // "SUCCESS", "FAILURE badRequest: why", ... for logs
  // Bounded values for metric labels and structured logs ("" when the
  // request never got that far).
  std::string message_type;    // "PKCSReq", "RenewalReq", ...
  std::string pki_status;      // "SUCCESS", "FAILURE", "PENDING"
  std::string fail_info;       // "badRequest", ... with FAILURE
  std::string fail_info_text;  // with FAILURE
  std::string transaction_id;  // for logs only, never a label
  // The identical message again (its senderNonce recorded with this very
  // message before): for logs only.
  bool retransmission = false;
};

// The PKIOperation flows of RFC 8894 section 3.3: PKCSReq and RenewalReq
// (issue), CertPoll (transaction state), GetCert (certificate index) and
// GetCRL (cached CRL signed by the CA key). Every private-key operation goes
// to the signer. Refusals are signed FAILUREs with failInfo and
// failInfoText; a dependency failure is a 503 that leaves nothing
// half-written (the nonce and a transaction claim are undone).
// Thread-safe; dependencies are not owned.
// Stores and hooks that only some profiles need (one-time challenges,
// manual approval, external verifier). Null: profiles needing them are
// refused at start-up by the caller, and answered 503 here.
struct PkiExtras {
  redis::ChallengeStore* challenges = nullptr;
  redis::RequestStore* requests = nullptr;
  ChallengeVerifier* verifier = nullptr;
  redis::RateLimiter* rate_limiter = nullptr;  // null: limits not enforced
  GatewayMetrics* metrics = nullptr;  // null: renewals, PENDING not counted
  metrics::JsonLogger* log = nullptr;  // null: CRL restores not logged
  // Issuance notices of profiles with notify.url (null: none queued).
  redis::NoticeOutbox* notices = nullptr;
};

// failInfoText of the FAILURE answering a senderNonce seen before in
// another message. The identical message again is no replay: it is answered
// as the first one was (an HTTP client or proxy retrying a request whose
// answer it did not get).
inline constexpr absl::string_view kReplayText = "senderNonce was seen before (replay)";
// failInfoText of the FAILURE answering a transactionID reused for another
// request: no failure notice (the transaction is the other request's).
inline constexpr absl::string_view kTransactionReusedText =
    "transactionID already used for a different request";
// failInfoText of the FAILURE answering a request or CertPoll of a
// transaction an operator rejected: no failure notice (the rejection queued
// one; admin RejectRequest).
inline constexpr absl::string_view kRejectedText = "the request was rejected";

class PkiOperation {
 public:
  PkiOperation(PkiOperationOptions options, SignerClient* signer,
               redis::EnrollmentStore* store, redis::CertificateIndex* index,
               CaCertificates* certificates, PkiExtras extras = {})
      : options_(options), signer_(signer), store_(store), index_(index),
        certificates_(certificates), extras_(extras),
        issuer_(signer, index, options.index_grace),
        crl_cache_(signer, index, options.crl_validity,
                   [this](const CrlCache::Restore& restore) { CrlRestored(restore); },
                   [this](const SignedCrl& kept, const absl::Status& why) {
                     CrlKeptServed(kept, why);
                   }) {}

  PkiOutcome Handle(const Profile& profile, absl::string_view der);

  // This CA's current CRL (DER), the one GetCRL answers with (CrlCache):
  // for relying parties at /crl/{ca}.crl. Unavailable when Redis or the
  // signer is down and no valid CRL is kept that they leave current.
  absl::StatusOr<std::shared_ptr<const std::string>> Crl();

 private:
  // One request in flight. Once its senderNonce is recorded, `nonce_profile`
  // is set so a 503 forgets the nonce again. A PKCSReq's nonce is recorded
  // after decryption (with the transaction claim on the common path); every
  // other message's before anything else. The nonce is recorded with
  // `message_id` (MessageId), so the identical message again is told from
  // a replay (EnrollmentStore::RecordNonce).
  struct Request {
    const codec::PkiMessage& msg;
    std::string digest;
    std::string cipher;
    std::string message_id;
    const Profile* nonce_profile = nullptr;
    bool retransmission = false;  // the store found the nonce with this message
    // Authenticated by the certificate it is signed with: a RenewalReq, or
    // a PKCSReq renewing the pre-RenewalReq way (see PromotedRenewal).
    bool renewal = false;
    // Its transaction already holds this very request (same fingerprint): a
    // retransmission, a resend while PENDING, or an identical twin that got
    // there first. It passed its challenge then.
    bool repeats = false;
    // It holds its transaction's claim (to issue, or to park for approval):
    // a new request, not one answered from its transaction.
    bool claimed = false;
    // The decrypted PKCSReq/RenewalReq, kept for a failure notice (profiles
    // with notify.url and the failed event) and the external verifier.
    std::string csr_der = {};
    // Its CSR may carry a one-time or external challenge that this request
    // has not settled (claimed for its transaction, or put to the
    // verifier): one refused before its challenge was looked at. A failure
    // notice leaves that CSR out, else its receiver, or whoever reads the
    // notice queue in Redis, could enroll with the challenge.
    bool challenge_open = false;
    // The certificate its transaction had issued when this request, a
    // renewal in the same transaction, reopened it (empty otherwise): put
    // back if no new one is issued, or the transaction would be forgotten.
    std::string reopened_certificate = {};
  };

  // pki_notice.cc: a failure notice for a refused PKCSReq/RenewalReq whose
  // request was decrypted (not for a replay or a transactionID reused by
  // another request: their transaction is someone else's; not for a
  // retransmission or a rejected transaction: noticed already). The CSR
  // goes with it (profile.notice_csr) unless its challenge is still open
  // (Request::challenge_open). A 503 instead of `outcome` when the notice
  // cannot be queued.
  PkiOutcome WithFailureNotice(const Profile& profile, const Request& req,
                               PkiOutcome outcome);
  // The issued notice of `req`'s new certificate (IssueClaimed).
  redis::Notice IssuedNotice(const Profile& profile, const Request& req,
                             const codec::Csr& csr, const std::string& certificate) const;

  // pki_enroll.cc and pki_authorize.cc: PKCSReq and RenewalReq.
  PkiOutcome HandleEnrollment(const Profile& profile, Request& req,
                              const CaSet& ca);
  // Whether `cert` expires within the profile's renewal window (always,
  // without one).
  static bool WithinRenewalWindow(const Profile& profile, X509* cert);
  // nullopt when the RenewalReq's signer certificate may renew.
  std::optional<PkiOutcome> CheckRenewalSigner(const Profile& profile,
                                               const Request& req,
                                               const CaSet& ca);
  // Whether a certificate the index records under `issued_under` ("" for
  // records made before they named a profile: the default profile) may
  // renew under `profile`: its own, or one listing it in
  // renewal_from_profiles.
  bool RenewsUnder(const Profile& profile, absl::string_view issued_under) const;
  // CheckRenewalSigner's answer for a certificate of ours the index lacks:
  // with renewal_reindex, records it again under `profile` (nullopt)
  // unless its serial is on the revocation list, provided every profile of
  // this CA renews under `profile` (else badCertId, as without the flag).
  std::optional<PkiOutcome> UnindexedRenewalSigner(const Profile& profile,
                                                   const Request& req,
                                                   const std::string& serial_hex);
  // nullopt when the PKCSReq's challenge is good for `profile`. A one-time
  // challenge is claimed for the request's transaction and fingerprint
  // (ChallengeStore::Claim): the transaction's retries pass it again until
  // SpendChallenge. Sets req.repeats when the challenge is gone because an
  // identical twin of the request completed the transaction meanwhile.
  std::optional<PkiOutcome> CheckChallenge(const Profile& profile, Request& req,
                                           const codec::Csr& csr);
  // Ends the one-time challenge `csr` carries when `req`'s transaction
  // holds it: once the transaction is done with it (issued, parked for
  // approval, refused for good). Best effort: a challenge left claimed
  // admits that transaction only, and expires.
  void SpendChallenge(const Profile& profile, const Request& req, const codec::Csr& csr);
  // SpendChallenge after `outcome` of a claimed transaction's issuance,
  // unless it is a 503 or 500 (the device retries with the challenge).
  PkiOutcome SpentAfter(const Profile& profile, const Request& req, const codec::Csr& csr,
                        PkiOutcome outcome);
  // Claims the transaction (recording the nonce in the same Redis round
  // trip when it is not yet) and issues once. An issued transaction
  // answers a retransmission with its certificate, and issues anew for a
  // request signed with that very certificate (see RenewsInTransaction).
  PkiOutcome IssueOnce(const Profile& profile, Request& req, const codec::Csr& csr,
                       const CaSet& ca);
  // Issues `csr` in the transaction `req` names, which the caller has
  // claimed, and completes it: the signed CertRep, or a FAILURE or 503 with
  // the claim released (a parked request stays parked for the next poll).
  PkiOutcome IssueClaimed(const Profile& profile, Request& req, const codec::Csr& csr,
                          bool renews);
  // CertPoll of a pending transaction: when its request is parked and the
  // holder's lease has ended (its gateway died mid-request), issues it to
  // the polling device; nullopt to answer PENDING.
  std::optional<PkiOutcome> FinishParked(const Profile& profile, Request& req,
                                         const codec::IssuerAndSubject& ids,
                                         const CaSet& ca);
  // Whether `req`, in a transaction issued with `issued_der`, is signed with
  // that certificate: its sender has the certificate, so this is not a
  // retransmission of a request whose answer was lost but a client asking
  // again with the same key and transactionID (certmonger derives the
  // transactionID from the key, and renews with the same key by default).
  static bool SignedWithIssued(const Request& req, const std::string& issued_der);
  // sscep (-O/-K), Windows' SCEP client and Cisco IOS renew with a PKCSReq
  // signed by the current certificate and carrying no challenge (renewal as
  // the SCEP drafts had it before RenewalReq). True when `req` is one: no
  // challenge, signed by a certificate naming this CA as its issuer, and not
  // the certificate of its own transaction (that is a renewal in the
  // transaction, handled by IssueOnce). Unavailable when Redis is.
  absl::StatusOr<bool> PromotedRenewal(const Profile& profile, const Request& req,
                                       const codec::Csr& csr, const CaSet& ca);

  // Whether `req` renews in the issued transaction `txn`: signed with its
  // certificate and within the profile's renewal window (before it, the
  // sender gets that certificate again).
  static bool RenewsInTransaction(const Profile& profile, const Request& req,
                                  const redis::Transaction& txn);
  // Manual approval: PENDING until an operator decides. A same-key
  // renewal of the approved certificate (signed with it) is issued without
  // a new approval, as a RenewalReq is.
  PkiOutcome AwaitApproval(const Profile& profile, Request& req, const codec::Csr& csr,
                           const std::string& csr_der, const CaSet& ca);
  // pki_query.cc: CertPoll, GetCert, GetCRL.
  PkiOutcome HandleCertPoll(const Profile& profile, Request& req,
                            const std::string& plain, const CaSet& ca);
  PkiOutcome HandleGetCert(const Profile& profile, Request& req,
                           const std::string& plain,
                           const CaSet& ca);
  PkiOutcome HandleGetCrl(Request& req, const std::string& plain,
                          const CaSet& ca);

  // pki_operation.cc: records the senderNonce (single use, RFC 8894 section
  // 3.2.1.5); nullopt when fresh or the identical message again, else the
  // reply (replay FAILURE or 503).
  std::optional<PkiOutcome> RecordNonce(const Profile& profile, Request& req);
  // Failure, after recording the nonce if that is still to do (a replay is
  // answered as one).
  PkiOutcome Refuse(const Profile& profile, Request& req, codec::FailInfo fail_info,
                    absl::string_view text);

  // pki_operation.cc: replies.
  PkiOutcome Failure(const Request& req, codec::FailInfo fail_info,
                     absl::string_view text);
  PkiOutcome Pending(const Request& req);
  PkiOutcome SuccessWithCertificate(const Request& req, const std::string& cert_der);
  PkiOutcome SuccessWithPayload(const Request& req, const std::string& degenerate);
  PkiOutcome Sign(const Request& req, const std::string& content,
                  codec::ScepAttributes attrs, std::string summary);
  // What the signer needs for a SUCCESS CertRep to `req` (IssueCertRep).
  absl::StatusOr<CertRepRequest> SuccessReply(const Request& req) const;
  // The outcome for a CertRep `der` the signer made with `attrs`.
  PkiOutcome Signed(const Request& req, std::string der,
                    const codec::ScepAttributes& attrs, std::string summary) const;
  PkiOutcome UnavailableAfterNonce(const Request& req, absl::string_view what);
  // Logs and counts revocations the CRL cache restored (CrlCache).
  void CrlRestored(const CrlCache::Restore& restore) const;
  // Logs the kept CRL served through a Redis or signer outage (CrlCache).
  void CrlKeptServed(const SignedCrl& kept, const absl::Status& why) const;

  const PkiOperationOptions options_;
  SignerClient* const signer_;
  redis::EnrollmentStore* const store_;
  redis::CertificateIndex* const index_;
  CaCertificates* const certificates_;
  const PkiExtras extras_;
  ProfileIssuer issuer_;
  CrlCache crl_cache_;
};

// Plain HTTP outcomes: 503 for an unavailable dependency, 400 for a request
// that is not a pkiMessage, 500 for our own failure.
PkiOutcome Unavailable(absl::string_view what);
PkiOutcome BadRequest(absl::string_view what);
PkiOutcome InternalError();

// What a pkiMessage's senderNonce is recorded with
// (EnrollmentStore::RecordNonce): the first 128 bits of SHA-256 over its
// signature value, which covers the content's digest and every SCEP
// attribute. The identical message again has it; another message carrying
// the same nonce does not. `msg` must have a valid signature.
std::string MessageId(const codec::PkiMessage& msg);

// Constant-time comparison of a presented and a configured secret.
bool SecretEquals(absl::string_view presented, absl::string_view expected);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_
