#ifndef SCEP_COMMON_REDIS_ENROLLMENT_STORE_H_
#define SCEP_COMMON_REDIS_ENROLLMENT_STORE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/notice_outbox.h"

namespace scep::redis {

// A notice to queue with a transaction's completion, and the queue's bound
// (EnrollmentStore::CompleteIndexedTransaction).
struct NoticeToQueue {
  const Notice* notice = nullptr;
  size_t max_queued = 0;
};

// State of an enrollment transaction (RFC 8894 section 3.2.1.1,
// transactionID), scoped per profile.
struct Transaction {
  enum class State {
    kClaimed,  // The caller owns the transaction now and should issue.
    kPending,  // Another request holds the claim and is issuing it.
    kIssued,   // Issued; `certificate` holds the result (see
             // CompleteIndexedTransaction for when it can be empty).
    kRejected, // Refused by an operator (manual approval); never issued.
  };
  State state = State::kPending;
  // Caller-defined request fingerprint stored at claim time, so a
  // retransmission (same fingerprint) can be told apart from a different
  // request reusing the transactionID.
  std::string fingerprint;
  // DER certificate; non-empty only when `state` is kIssued.
  std::string certificate;
  // kClaimed by taking over a parked claim whose holder's lease had ended
  // (see ParkPendingClaim), not by creating the transaction.
  bool taken_over = false;
  // From RecordNonceAndClaim: the senderNonce was seen before in this very
  // message (NonceUse::kRetransmission).
  bool retransmission = false;
};

// What RecordNonce found for a senderNonce.
enum class NonceUse {
  kFresh,           // not seen within its TTL: recorded now
  kRetransmission,  // seen before in this very message (same `message`)
  kReplay,          // seen before in another message
};

// A request kept with its pending transaction for CertPoll (see
// EnrollmentStore::ParkPendingClaim).
struct ParkedClaim {
  std::string fingerprint;
  std::string request;  // the PKCSReq's certification request (DER)
};

// Replay and transaction state of the SCEP gateway. Implementations are
// thread-safe.
//
// Common contract of every method:
// - `profile` is trusted configuration: non-empty printable ASCII without
//   ':' or spaces, else InvalidArgument.
// - Nonces, transaction IDs, fingerprints and certificates are binary-safe;
//   nonces and transaction IDs are client-chosen and must be non-empty
//   (InvalidArgument). They are hashed or hex-encoded before they become part
//   of a key, so they cannot collide or inflate keys.
// - TTLs must be at least one millisecond (InvalidArgument) and are rounded
//   up to whole milliseconds.
// - Unavailable when the backing store cannot be reached or fails; the
//   message names the operation and never carries secrets. Callers answer
//   HTTP 503 and may retry.
class EnrollmentStore {
 public:
  virtual ~EnrollmentStore() = default;

  // Records a senderNonce (RFC 8894 section 3.2.1.5) for `ttl`, with
  // `message` (non-empty, binary-safe: a digest identifying the message that
  // carried it). kFresh when not seen within its TTL; kRetransmission when
  // seen before with the same `message` (the identical message again: an
  // HTTP client or proxy retrying, a device resending; nothing is recorded
  // anew); kReplay when seen with another message.
  virtual absl::StatusOr<NonceUse> RecordNonce(absl::string_view profile,
                                               absl::string_view nonce,
                                               absl::string_view message,
                                               absl::Duration ttl) = 0;

  // Forgets a nonce this request recorded, for a request that then failed
  // with Unavailable: nothing of it stays behind, and a retry is not refused
  // as a replay even when the client rebuilt its message around the same
  // nonce (the identical message would be a retransmission anyway). OK when
  // the nonce is not recorded.
  virtual absl::Status ForgetNonce(absl::string_view profile,
                                   absl::string_view nonce) = 0;

  // Atomically: when no transaction `transaction_id` exists, creates it
  // pending with `fingerprint` (non-empty) for `pending_ttl` and returns
  // kClaimed with that fingerprint. Otherwise returns the stored state:
  // kPending with the claimer's fingerprint, or kIssued with the fingerprint
  // and certificate. Exactly one of any number of concurrent callers gets
  // kClaimed. A parked claim (ParkPendingClaim) under `fingerprint` whose
  // holder's lease has ended is taken over: kClaimed, the caller holding it
  // for `pending_ttl`.
  virtual absl::StatusOr<Transaction> ClaimTransaction(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) = 0;

  // RecordNonce, then ClaimTransaction unless the nonce is a replay, as one
  // step: nullopt for a replay (nothing claimed); a retransmission claims
  // as a fresh nonce does, with Transaction::retransmission set. On any
  // error neither the nonce nor the claim stays behind, so the identical
  // retry is not refused as a replay. Default: the two calls, undoing the
  // nonce when the claim fails.
  virtual absl::StatusOr<std::optional<Transaction>> RecordNonceAndClaim(
      absl::string_view profile, absl::string_view nonce, absl::string_view message,
      absl::Duration nonce_ttl, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) {
    absl::StatusOr<NonceUse> use = RecordNonce(profile, nonce, message, nonce_ttl);
    if (!use.ok()) return use.status();
    if (*use == NonceUse::kReplay) return std::nullopt;
    absl::StatusOr<Transaction> claimed =
        ClaimTransaction(profile, transaction_id, fingerprint, pending_ttl);
    if (!claimed.ok()) {
      (void)ForgetNonce(profile, nonce);
      return claimed.status();
    }
    claimed->retransmission = *use == NonceUse::kRetransmission;
    return *std::move(claimed);
  }

  // Marks a transaction issued with `certificate` (DER, non-empty) for `ttl`.
  // FailedPrecondition when the stored fingerprint differs from
  // `fingerprint`, or when it is already issued with another certificate
  // (the same certificate again is OK and changes nothing). When the pending
  // claim has expired and nobody claimed it since, the result is still
  // recorded, so retransmissions get this certificate and not a second one.
  virtual absl::Status CompleteTransaction(absl::string_view profile,
                                           absl::string_view transaction_id,
                                           absl::string_view fingerprint,
                                           absl::string_view certificate,
                                           absl::Duration ttl) = 0;

  // CompleteTransaction for a certificate already recorded in the
  // certificate index under `serial_hex` (scep:cert:{serial}). A store that
  // shares Redis with the index keeps only that reference when the index
  // holds this very certificate (half the memory of an enrollment), and
  // reads the certificate from there; otherwise it stores the certificate.
  // When the index entry is gone before the transaction (a certificate that
  // expired and left the index first), an issued transaction reads back with
  // an empty `certificate`. Default: CompleteTransaction. A store that waits
  // for replicas (RedisOptions::wait_replicas) returns UnconfirmedWriteError
  // (unconfirmed_write.h) when Redis could not confirm the write: the
  // certificate must then not be handed out.
  //
  // With `notice` (QueuesNotices() stores only), the step that marks the
  // transaction issued also queues the notice (RedisNoticeOutbox's queue,
  // bounded by `notice.max_queued`): it is queued exactly when the
  // completion is recorded, journalled with it, and not for a repeat.
  virtual absl::Status CompleteIndexedTransaction(absl::string_view profile,
                                                  absl::string_view transaction_id,
                                                  absl::string_view fingerprint,
                                                  absl::string_view certificate,
                                                  absl::string_view serial_hex,
                                                  absl::Duration ttl,
                                                  NoticeToQueue notice = {}) {
    (void)serial_hex;
    (void)notice;
    return CompleteTransaction(profile, transaction_id, fingerprint, certificate, ttl);
  }
  // Whether CompleteIndexedTransaction queues its notice; when not, the
  // caller queues it after the completion.
  virtual bool QueuesNotices() const { return false; }

  // Deletes the transaction only while it is still pending with
  // `fingerprint` (compare-and-delete), so that a failed issuance can be
  // retried. A parked claim (ParkPendingClaim) is not deleted: its holder's
  // lease ends at once and the parked request stays, so the device's next
  // CertPoll or resend takes it over. OK when deleted, ended or already
  // gone; FailedPrecondition when it is pending under another fingerprint
  // or already issued (nothing changed).
  virtual absl::Status ReleaseTransaction(absl::string_view profile,
                                          absl::string_view transaction_id,
                                          absl::string_view fingerprint) = 0;

  // Atomically turns a transaction issued under `fingerprint` with
  // `certificate` back into a pending claim owned by the caller (as
  // ClaimTransaction's kClaimed, for `pending_ttl`): true when it did;
  // false, changing nothing, when the transaction is not in that state
  // (gone, pending, rejected, issued under another fingerprint or with
  // another certificate). For a request in an issued transaction signed
  // with the very certificate that transaction issued: its sender holds the
  // certificate and asks for a new one (certmonger renewing with the same
  // key, from which it derives the transactionID), which a retransmission's
  // answer, the old certificate again, would not give it.
  virtual absl::StatusOr<bool> ReopenIssuedTransaction(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::string_view certificate,
      absl::Duration pending_ttl) = 0;

  // Marks a pending transaction rejected for `ttl` (manual approval, or an
  // operator stopping it). NotFound when unknown; FailedPrecondition when
  // already issued; rejecting twice is OK.
  virtual absl::Status RejectTransaction(absl::string_view profile,
                                         absl::string_view transaction_id,
                                         absl::Duration ttl) = 0;

  // A claim whose holder may be gone (its gateway died mid-request) while
  // the same request, retransmitted, is answered PENDING: keeps `request`
  // (the certification request, non-empty) with the transaction and keeps
  // the transaction for `poll_ttl` (when longer than it has left), so the
  // device's CertPoll can finish it (TakeOverParkedClaim) once the holder's
  // lease, the claim's own remaining lifetime, has ended. Only a
  // transaction pending under `fingerprint` is parked (parking it again
  // changes nothing); the returned state is as ClaimTransaction reports it,
  // and nullopt when there is no transaction.
  virtual absl::StatusOr<std::optional<Transaction>> ParkPendingClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::string_view request,
      absl::Duration poll_ttl) = 0;

  // For a CertPoll: when the transaction is parked under `fingerprint` and
  // its holder's lease has ended, makes the caller the holder for `lease`
  // and returns the parked request; nullopt otherwise (not parked, parked
  // for another request, the lease still running, issued, or gone).
  // Exactly one of any number of concurrent callers gets it. The holder
  // then completes the transaction, or releases it.
  virtual absl::StatusOr<std::optional<ParkedClaim>> TakeOverParkedClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration lease) = 0;

  // Reads transaction `transaction_id` without claiming it (CertPoll,
  // RFC 8894 section 3.3.3): nullopt when unknown or expired, otherwise
  // kPending or kIssued.
  virtual absl::StatusOr<std::optional<Transaction>> GetTransaction(
      absl::string_view profile, absl::string_view transaction_id) = 0;

  // OK when the store answers; Unavailable otherwise (for Redis also when
  // the server is a Redis Cluster node). For readiness probes.
  virtual absl::Status Ping() = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_ENROLLMENT_STORE_H_
