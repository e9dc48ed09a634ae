// RedisEnrollmentStore: requests parked while another pod's claim holds
// their transaction (a resend meeting a dead pod's claim), taking such a
// claim over once its lease ended, and reading a transaction's state.

#include <string>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_enrollment_store.h"
#include "common/redis/redis_enrollment_store_internal.h"
#include "common/redis/redis_reply.h"
#include "common/redis/store_keys.h"

namespace scep::redis {

using enrollment_store_internal::ClaimToken;
using enrollment_store_internal::Eval;

namespace {

// The {state, fp, cert} (or {}) reply of the read and park scripts.
absl::StatusOr<std::optional<Transaction>> TransactionOf(absl::string_view op,
                                                         const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY) return UnexpectedReply(op, reply);
  if (reply.elements == 0) return std::nullopt;
  if (reply.elements != 3 || reply.element[0]->type != REDIS_REPLY_STRING) {
    return UnexpectedReply(op, reply);
  }
  Transaction result;
  const absl::string_view state = ReplyText(*reply.element[0]);
  if (reply.element[1]->type == REDIS_REPLY_STRING) {
    result.fingerprint = std::string(ReplyText(*reply.element[1]));
  }
  if (state == "issued") {
    result.state = Transaction::State::kIssued;
    if (reply.element[2]->type == REDIS_REPLY_STRING) {
      result.certificate = std::string(ReplyText(*reply.element[2]));
    }
  } else if (state == "rejected") {
    result.state = Transaction::State::kRejected;
  } else {
    result.state = Transaction::State::kPending;
  }
  return result;
}

}  // namespace

absl::StatusOr<std::optional<Transaction>> RedisEnrollmentStore::ParkPendingClaim(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view request, absl::Duration poll_ttl) {
  constexpr absl::string_view kOp = "ParkPendingClaim";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(request, "request"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(poll_ttl, "poll TTL"));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Eval(*pool_, kOp, park_, key,
                                             {fingerprint, request, absl::StrCat(ttl_ms)}));
  return TransactionOf(kOp, *reply);
}

absl::StatusOr<std::optional<ParkedClaim>> RedisEnrollmentStore::TakeOverParkedClaim(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration lease) {
  constexpr absl::string_view kOp = "TakeOverParkedClaim";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  ASSIGN_OR_RETURN(int64_t lease_ms, TtlMillis(lease, "lease"));
  ASSIGN_OR_RETURN(const std::string token, ClaimToken(kOp));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Eval(*pool_, kOp, take_over_, key,
                                             {fingerprint, absl::StrCat(lease_ms), token}));
  if (reply->type != REDIS_REPLY_ARRAY) return UnexpectedReply(kOp, *reply);
  if (reply->elements == 0) return std::nullopt;
  if (reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    return UnexpectedReply(kOp, *reply);
  }
  return ParkedClaim{std::string(ReplyText(*reply->element[0])),
                     std::string(ReplyText(*reply->element[1]))};
}

absl::StatusOr<std::optional<Transaction>> RedisEnrollmentStore::GetTransaction(
    absl::string_view profile, absl::string_view transaction_id) {
  constexpr absl::string_view kOp = "GetTransaction";
  RETURN_IF_ERROR(Flushed(kOp));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Eval(*pool_, kOp, read_, key, {}));
  return TransactionOf(kOp, *reply);
}

}  // namespace scep::redis
