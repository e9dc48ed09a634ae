#include "common/redis/redis_request_store.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_index_page.h"
#include "common/redis/redis_reply.h"
#include "common/redis/request_keys.h"
#include "common/redis/store_keys.h"

namespace scep::redis {
namespace {

// KEYS: request hash, profile index, global index. ARGV: TTL ms, now ms,
// then field/value pairs. Before adding, drops index members at the head
// whose request expired, so an index nobody lists stays bounded; each
// index lives as long as its newest request.
constexpr char kCreateScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
for i = 2, 3 do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[i], 0, 15)) do
    if redis.call('EXISTS', m) == 1 then break end
    redis.call('ZREM', KEYS[i], m)
  end
  redis.call('ZADD', KEYS[i], ARGV[2], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  end
end
return 'ok')lua";

// KEYS: request hash. ARGV: from, to, actor, serial ('' = keep), now ms.
// Replies 'ok', 'missing', or the current status when it is not `from`.
constexpr char kTransitionScript[] = R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 'missing' end
if s ~= ARGV[1] then return s end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'actor', ARGV[3], 'updated', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'serial', ARGV[4]) end
return 'ok')lua";

// KEYS: challenge, its claim. ARGV: holder (ChallengeHolder). Replies the
// bound subject, or nil when the challenge is gone or another's. The claim
// outlives the challenge by a second, so it never lapses while the
// challenge is still there to be claimed again by someone else.
constexpr char kClaimChallengeScript[] = R"lua(
local subject = redis.call('GET', KEYS[1])
if not subject then return false end
local holder = redis.call('GET', KEYS[2])
if holder then
  if holder == ARGV[1] then return subject end
  return false
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl + 1000)
else
  redis.call('SET', KEYS[2], ARGV[1])
end
return subject)lua";

// KEYS: challenge, its claim. ARGV: holder. Deletes both when the holder
// holds the claim: 1, else 0.
constexpr char kSpendChallengeScript[] = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1)lua";

absl::Time FromMillisText(absl::string_view text) {
  int64_t ms = 0;
  return absl::SimpleAtoi(text, &ms) ? absl::FromUnixMillis(ms) : absl::InfinitePast();
}

absl::StatusOr<ApprovalRequest> FromFields(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  ApprovalRequest request;
  request.profile = std::string(FieldOf(fields, "profile"));
  request.transaction_id = std::string(FieldOf(fields, "tid"));
  request.subject = std::string(FieldOf(fields, "subject"));
  request.csr = std::string(FieldOf(fields, "csr"));
  request.fingerprint = std::string(FieldOf(fields, "fp"));
  request.serial_hex = std::string(FieldOf(fields, "serial"));
  request.actor = std::string(FieldOf(fields, "actor"));
  request.created = FromMillisText(FieldOf(fields, "created"));
  request.updated = FromMillisText(FieldOf(fields, "updated"));
  std::optional<ApprovalRequest::Status> status = ParseStatus(FieldOf(fields, "status"));
  if (!status.has_value()) return absl::DataLossError("malformed request record in Redis");
  request.status = *status;
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisRequestStore>> RedisRequestStore::New(
    RedisOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RedisRequestStore>(new RedisRequestStore(std::move(pool)));
}

RedisRequestStore::RedisRequestStore(std::unique_ptr<RedisConnectionPool> pool)
    : pool_(std::move(pool)) {}
RedisRequestStore::~RedisRequestStore() = default;

absl::Status RedisRequestStore::Create(const ApprovalRequest& request,
                                       absl::Duration ttl) {
  constexpr absl::string_view kOp = "CreateRequest";
  ASSIGN_OR_RETURN(std::string key, RequestKey(request.profile, request.transaction_id));
  ASSIGN_OR_RETURN(std::string index, RequestIndexKey(request.profile));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "request TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  const std::string now = absl::StrCat(absl::ToUnixMillis(absl::Now()));
  const std::string status(StatusName(ApprovalRequest::Status::kRequested));
  ASSIGN_OR_RETURN(
      RedisReplyPtr reply,
      pool_->Run(kOp,
                 {"EVAL", kCreateScript, "3", key, index, kAllRequestsIndexKey, px, now,
                  "profile", request.profile, "tid", request.transaction_id, "subject",
                  request.subject, "csr", request.csr, "fp", request.fingerprint, "status",
                  status, "created", now, "updated", now},
                 RedisConnectionPool::Ack::kReplicas));
  if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
    return UnexpectedReply(kOp, *reply);
  }
  if (ReplyText(*reply) == "exists") {
    return absl::AlreadyExistsError("request already recorded for this transaction");
  }
  if (ReplyText(*reply) != "ok") return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ApprovalRequest>> RedisRequestStore::Get(
    absl::string_view profile, absl::string_view transaction_id) {
  constexpr absl::string_view kOp = "GetRequest";
  ASSIGN_OR_RETURN(std::string key, RequestKey(profile, transaction_id));
  ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_->Run(kOp, {"HGETALL", key}));
  if (reply->type != REDIS_REPLY_ARRAY) return UnexpectedReply(kOp, *reply);
  if (reply->elements == 0) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> fields;
  for (size_t i = 0; i + 1 < reply->elements; i += 2) {
    fields.emplace_back(ReplyText(*reply->element[i]), ReplyText(*reply->element[i + 1]));
  }
  ASSIGN_OR_RETURN(ApprovalRequest request, FromFields(fields));
  return request;
}

absl::Status RedisRequestStore::Transition(absl::string_view profile,
                                           absl::string_view transaction_id,
                                           ApprovalRequest::Status from,
                                           ApprovalRequest::Status to,
                                           absl::string_view actor,
                                           absl::string_view serial_hex) {
  constexpr absl::string_view kOp = "TransitionRequest";
  ASSIGN_OR_RETURN(std::string key, RequestKey(profile, transaction_id));
  const std::string now = absl::StrCat(absl::ToUnixMillis(absl::Now()));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp,
                              {"EVAL", kTransitionScript, "1", key, StatusName(from),
                               StatusName(to), actor, serial_hex, now},
                              RedisConnectionPool::Ack::kReplicas));
  if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
    return UnexpectedReply(kOp, *reply);
  }
  const absl::string_view word = ReplyText(*reply);
  if (word == "ok") return absl::OkStatus();
  if (word == "missing") return absl::NotFoundError("no such request");
  return absl::FailedPreconditionError(
      absl::StrCat("request is ", word, ", not ", StatusName(from)));
}

absl::StatusOr<RequestPage> RedisRequestStore::List(
    absl::string_view profile, std::optional<ApprovalRequest::Status> status,
    absl::string_view page_token, int page_size) {
  IndexPageQuery query;
  ASSIGN_OR_RETURN(query.index_key, RequestIndexKey(profile));
  RETURN_IF_ERROR(ValidatePageSize(page_size));
  if (status.has_value()) {
    query.filter_field = "status";
    query.filter_value = std::string(StatusName(*status));
  }
  query.page_token = std::string(page_token);
  query.page_size = page_size;
  ASSIGN_OR_RETURN(IndexPage page, ReadIndexPage(*pool_, "ListRequests", query));
  RequestPage out;
  out.next_page_token = std::move(page.next_page_token);
  for (const IndexPageEntry& entry : page.entries) {
    ASSIGN_OR_RETURN(ApprovalRequest request, FromFields(entry.fields));
    out.requests.push_back(std::move(request));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<RedisChallengeStore>> RedisChallengeStore::New(
    RedisOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RedisChallengeStore>(new RedisChallengeStore(std::move(pool)));
}

RedisChallengeStore::RedisChallengeStore(std::unique_ptr<RedisConnectionPool> pool)
    : pool_(std::move(pool)),
      claim_(MakeLuaScript(kClaimChallengeScript)),
      spend_(MakeLuaScript(kSpendChallengeScript)) {}
RedisChallengeStore::~RedisChallengeStore() = default;

absl::Status RedisChallengeStore::Create(absl::string_view profile,
                                         absl::string_view challenge,
                                         absl::string_view subject,
                                         absl::Duration ttl) {
  constexpr absl::string_view kOp = "CreateChallenge";
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "challenge TTL"));
  const std::string px = absl::StrCat(ttl_ms);
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"SET", key, subject, "PX", px},
                              RedisConnectionPool::Ack::kReplicas));
  if (reply->type != REDIS_REPLY_STATUS || ReplyText(*reply) != "OK") {
    return UnexpectedReply(kOp, *reply);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> RedisChallengeStore::Claim(
    absl::string_view profile, absl::string_view challenge,
    absl::string_view transaction_id, absl::string_view fingerprint) {
  constexpr absl::string_view kOp = "ClaimChallenge";
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(std::string holder, ChallengeHolder(transaction_id, fingerprint));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   EvalScript(*pool_, kOp, claim_, {key, ChallengeClaimKey(key)}, {holder}));
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_STRING) return UnexpectedReply(kOp, *reply);
  return std::string(ReplyText(*reply));
}

absl::Status RedisChallengeStore::Spend(absl::string_view profile,
                                        absl::string_view challenge,
                                        absl::string_view transaction_id,
                                        absl::string_view fingerprint) {
  constexpr absl::string_view kOp = "SpendChallenge";
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(std::string holder, ChallengeHolder(transaction_id, fingerprint));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   EvalScript(*pool_, kOp, spend_, {key, ChallengeClaimKey(key)}, {holder}));
  if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

}  // namespace scep::redis
