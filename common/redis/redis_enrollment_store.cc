#include "common/redis/redis_enrollment_store.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/certificate_index.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_enrollment_store_internal.h"
#include "common/redis/redis_reply.h"
#include "common/redis/store_keys.h"
#include "common/redis/unconfirmed_write.h"

namespace scep::redis {
using enrollment_store_internal::ClaimToken;
using enrollment_store_internal::Eval;
using enrollment_store_internal::EvalOrJournal;

absl::StatusOr<std::unique_ptr<RedisEnrollmentStore>> RedisEnrollmentStore::New(
    RedisOptions options) {
  const bool confirmed_completions = options.wait_replicas > 0;
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RedisEnrollmentStore>(
      new RedisEnrollmentStore(std::move(pool), confirmed_completions));
}

RedisEnrollmentStore::RedisEnrollmentStore(
    std::unique_ptr<RedisConnectionPool> pool, bool confirmed_completions)
    : pool_(std::move(pool)),
      confirmed_completions_(confirmed_completions),
      journal_(pool_.get()),
      claim_(ClaimScript()),
      nonce_(NonceScript()),
      complete_(CompleteScript()),
      release_(ReleaseScript()),
      abandon_(AbandonScript()),
      reopen_(ReopenScript()),
      reject_(RejectScript()),
      read_(ReadScript()),
      park_(ParkScript()),
      take_over_(TakeOverScript()) {}

RedisEnrollmentStore::~RedisEnrollmentStore() = default;

absl::Status RedisEnrollmentStore::Flushed(absl::string_view operation) {
  absl::Status flushed = journal_.Flush();
  if (flushed.ok()) return flushed;
  return absl::UnavailableError(absl::StrCat(
      "Redis ", operation, ": earlier writes not yet applied: ", flushed.message()));
}

absl::StatusOr<NonceUse> RedisEnrollmentStore::RecordNonce(
    absl::string_view profile, absl::string_view nonce, absl::string_view message,
    absl::Duration ttl) {
  constexpr absl::string_view kOp = "RecordNonce";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, NonceKey(profile, nonce));
  RETURN_IF_ERROR(RequireNonEmpty(message, "message"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "nonce TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  absl::StatusOr<RedisReplyPtr> sent = Eval(*pool_, kOp, nonce_, key, {message, px});
  if (!sent.ok()) {
    // Redis may have recorded the nonce and died before answering; the
    // caller answers 503, so the identical retry must not meet it.
    if (absl::IsUnavailable(sent.status())) {
      (void)journal_.RunOrJournal("ForgetNonce", {"DEL", key});
    }
    return sent.status();
  }
  ASSIGN_OR_RETURN(std::string word, ReplyWord(kOp, **sent));
  if (word == "fresh") return NonceUse::kFresh;
  if (word == "again") return NonceUse::kRetransmission;
  if (word == "replay") return NonceUse::kReplay;
  return absl::UnavailableError(absl::StrCat("Redis ", kOp, ": unexpected answer"));
}

absl::Status RedisEnrollmentStore::ForgetNonce(absl::string_view profile,
                                               absl::string_view nonce) {
  constexpr absl::string_view kOp = "ForgetNonce";  // journalled
  ASSIGN_OR_RETURN(std::string key, NonceKey(profile, nonce));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, journal_.RunOrJournal(kOp, {"DEL", key}));
  if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::StatusOr<Transaction> RedisEnrollmentStore::ClaimTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration pending_ttl) {
  ASSIGN_OR_RETURN(std::optional<Transaction> claimed,
                   Claim("ClaimTransaction", profile, /*nonce=*/std::nullopt,
                         /*message=*/"", absl::ZeroDuration(), transaction_id, fingerprint,
                         pending_ttl));
  if (!claimed.has_value()) {
    return absl::InternalError("ClaimTransaction: replay answer without a nonce");
  }
  return *std::move(claimed);
}

absl::StatusOr<std::optional<Transaction>> RedisEnrollmentStore::RecordNonceAndClaim(
    absl::string_view profile, absl::string_view nonce, absl::string_view message,
    absl::Duration nonce_ttl, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration pending_ttl) {
  return Claim("RecordNonceAndClaim", profile, nonce, message, nonce_ttl, transaction_id,
               fingerprint, pending_ttl);
}

absl::StatusOr<std::optional<Transaction>> RedisEnrollmentStore::Claim(
    absl::string_view op, absl::string_view profile,
    std::optional<absl::string_view> nonce, absl::string_view message,
    absl::Duration nonce_ttl, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration pending_ttl) {
  RETURN_IF_ERROR(Flushed(op));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(pending_ttl, "pending TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  std::string nonce_key, nonce_px;
  if (nonce.has_value()) {
    ASSIGN_OR_RETURN(nonce_key, NonceKey(profile, *nonce));
    RETURN_IF_ERROR(RequireNonEmpty(message, "message"));
    ASSIGN_OR_RETURN(int64_t nonce_ms, TtlMillis(nonce_ttl, "nonce TTL"));
    nonce_px = absl::StrCat(nonce_ms);
  }
  // Redis may run the claim and die before answering; the caller then
  // answers 503, and the claim must not hold the transaction pending until
  // its TTL ends. The token undoes exactly this claim, nobody else's.
  ASSIGN_OR_RETURN(const std::string token, ClaimToken(op));
  std::vector<absl::string_view> keys = {key};
  std::vector<absl::string_view> args = {fingerprint, px, token};
  if (nonce.has_value()) {
    keys.insert(keys.begin(), nonce_key);
    args.insert(args.begin(), {nonce_px, message});
  }
  absl::StatusOr<RedisReplyPtr> sent = EvalScript(*pool_, op, claim_, keys, args);
  if (!sent.ok()) {
    if (absl::IsUnavailable(sent.status())) {
      // The nonce too: the identical retry must not meet it.
      if (nonce.has_value()) {
        (void)journal_.RunOrJournal("ForgetNonce", {"DEL", nonce_key});
      }
      (void)journal_.RunOrJournal(
          "AbandonClaim", {"EVAL", abandon_.source, "1", key, token});
    }
    return sent.status();
  }
  const RedisReplyPtr& reply = *sent;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
    return UnexpectedReply(op, *reply);
  }
  for (size_t i = 0; i < reply->elements; ++i) {
    if (reply->element[i]->type != REDIS_REPLY_STRING) {
      return UnexpectedReply(op, *reply->element[i]);
    }
  }
  const absl::string_view state = ReplyText(*reply->element[0]);
  if (state == "replay" && nonce.has_value()) return std::nullopt;
  Transaction result;
  result.fingerprint = std::string(ReplyText(*reply->element[1]));
  result.retransmission = ReplyText(*reply->element[3]) == "again";
  if (state == "claimed" || state == "taken") {
    result.state = Transaction::State::kClaimed;
    result.taken_over = state == "taken";
  } else if (state == "issued") {
    result.state = Transaction::State::kIssued;
    result.certificate = std::string(ReplyText(*reply->element[2]));
  } else if (state == "rejected") {
    result.state = Transaction::State::kRejected;
  } else {
    result.state = Transaction::State::kPending;
  }
  return result;
}

absl::Status RedisEnrollmentStore::CompleteTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view certificate,
    absl::Duration ttl) {
  return CompleteIndexedTransaction(profile, transaction_id, fingerprint, certificate,
                                    /*serial_hex=*/"", ttl);
}

absl::Status RedisEnrollmentStore::CompleteIndexedTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view certificate,
    absl::string_view serial_hex, absl::Duration ttl, NoticeToQueue notice) {
  constexpr absl::string_view kOp = "CompleteTransaction";  // journalled
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(certificate, "certificate"));
  // The serial becomes part of a key inside the script: hex only.
  if (!serial_hex.empty()) RETURN_IF_ERROR(ValidateSerialHex(serial_hex));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "issued TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  std::vector<absl::string_view> args = {fingerprint, certificate, px, serial_hex};
  std::vector<std::string> notice_fields;
  std::string notice_bound;
  if (notice.notice != nullptr) {
    notice_fields = NoticeFields(*notice.notice);
    notice_bound = absl::StrCat(std::max<size_t>(1, notice.max_queued));
    args.push_back(notice_bound);
    args.insert(args.end(), notice_fields.begin(), notice_fields.end());
  }
  // The last write before the device gets its certificate: with
  // RedisOptions::wait_replicas, WAIT covers it and the index entry
  // written before it, and it is never journalled: one Redis did not
  // confirm is UnconfirmedWriteError (the gateway withholds the
  // certificate), since a replay after a failover could record the
  // certificate where its index entry is gone.
  absl::StatusOr<RedisReplyPtr> completed;
  if (confirmed_completions_) {
    absl::Status flushed = Flushed(kOp);
    completed = flushed.ok() ? EvalScript(*pool_, kOp, complete_, {key}, args,
                                          RedisConnectionPool::Ack::kReplicas)
                             : flushed;
    if (absl::IsUnavailable(completed.status()) && !IsUnconfirmedWrite(completed.status())) {
      return UnconfirmedWriteError(completed.status().message());
    }
  } else {
    completed = EvalOrJournal(*pool_, journal_, kOp, complete_, key, args);
  }
  ASSIGN_OR_RETURN(RedisReplyPtr reply, std::move(completed));
  ASSIGN_OR_RETURN(std::string word, ReplyWord(kOp, *reply));
  if (word == "ok") return absl::OkStatus();
  if (word == "mismatch") {
    return absl::FailedPreconditionError(
        "CompleteTransaction: transaction claimed by another request");
  }
  if (word == "conflict") {
    return absl::FailedPreconditionError(
        "CompleteTransaction: transaction already issued another "
        "certificate");
  }
  if (word == "rejected") {
    return absl::FailedPreconditionError("CompleteTransaction: transaction rejected");
  }
  return UnexpectedReply(kOp, *reply);
}

absl::Status RedisEnrollmentStore::ReleaseTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint) {
  constexpr absl::string_view kOp = "ReleaseTransaction";  // journalled
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   EvalOrJournal(*pool_, journal_, kOp, release_, key, {fingerprint}));
  ASSIGN_OR_RETURN(std::string word, ReplyWord(kOp, *reply));
  if (word == "released" || word == "missing") return absl::OkStatus();
  if (word == "mismatch") {
    return absl::FailedPreconditionError(
        "ReleaseTransaction: transaction claimed by another request");
  }
  if (word == "issued") {
    return absl::FailedPreconditionError(
        "ReleaseTransaction: transaction already issued");
  }
  return UnexpectedReply(kOp, *reply);
}

absl::StatusOr<bool> RedisEnrollmentStore::ReopenIssuedTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view certificate,
    absl::Duration pending_ttl) {
  constexpr absl::string_view kOp = "ReopenIssuedTransaction";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(certificate, "certificate"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(pending_ttl, "pending TTL"));
  // As for a claim: a reply lost with Redis is undone by its token, so the
  // transaction is not left pending until the TTL ends (the next request
  // then claims afresh; the certificate it held stays in the index).
  ASSIGN_OR_RETURN(const std::string token, ClaimToken(kOp));
  absl::StatusOr<RedisReplyPtr> sent =
      EvalScript(*pool_, kOp, reopen_, {key},
                 {fingerprint, certificate, absl::StrCat(ttl_ms), token});
  if (!sent.ok()) {
    if (absl::IsUnavailable(sent.status())) {
      (void)journal_.RunOrJournal(
          "AbandonClaim", {"EVAL", abandon_.source, "1", key, token});
    }
    return sent.status();
  }
  ASSIGN_OR_RETURN(std::string word, ReplyWord(kOp, **sent));
  if (word == "reopened") return true;
  if (word == "kept") return false;
  return UnexpectedReply(kOp, **sent);
}

absl::Status RedisEnrollmentStore::RejectTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::Duration ttl) {
  constexpr absl::string_view kOp = "RejectTransaction";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "rejected TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Eval(*pool_, kOp, reject_, key, {px}));
  ASSIGN_OR_RETURN(std::string word, ReplyWord(kOp, *reply));
  if (word == "missing") return absl::NotFoundError("RejectTransaction: no such transaction");
  if (word == "issued") {
    return absl::FailedPreconditionError("RejectTransaction: already issued");
  }
  return absl::OkStatus();
}

absl::Status RedisEnrollmentStore::Ping() {
  constexpr absl::string_view kOp = "Ping";
  RETURN_IF_ERROR(Flushed(kOp));  // readiness drains the journal too
  // Two keys in two hash slots: a single server answers how many exist, a
  // Redis Cluster node refuses them (CROSSSLOT), so a gateway pointed at a
  // cluster-mode endpoint is not ready, with the reason, instead of
  // failing the scripts that need their keys together one by one.
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EXISTS", "scep:ready:{0}", "scep:ready:{1}"}));
  if (reply->type == REDIS_REPLY_INTEGER) return absl::OkStatus();
  return UnexpectedReply(kOp, *reply);
}

}  // namespace scep::redis
