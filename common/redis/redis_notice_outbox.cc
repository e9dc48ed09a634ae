// RedisNoticeOutbox: the notice queue as a Redis stream and consumer group.

#include <hiredis/hiredis.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/notice_outbox.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_reply.h"

namespace scep::redis {
namespace {

// XACK and XDEL in one round trip.
constexpr char kDoneScript[] = R"lua(
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
)lua";

// {length, pending, dropped}; pending 0 while the group does not exist.
constexpr char kStatsScript[] = R"lua(
local len = redis.call('XLEN', KEYS[1])
local pending = 0
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if ok and p then pending = p[1] end
return {len, pending, tonumber(redis.call('GET', KEYS[2]) or '0')}
)lua";

// The millisecond part of a stream id ("1700000000000-0").
absl::Time IdTime(absl::string_view id) {
  int64_t ms = 0;
  (void)absl::SimpleAtoi(id.substr(0, id.find('-')), &ms);
  return absl::FromUnixMillis(ms);
}

bool IsNoGroup(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR && absl::StartsWith(ReplyText(reply), "NOGROUP");
}

// Reads stream entries ([id, [field, value, ...]], ...) into `out`.
void AppendEntries(const redisReply& entries, std::vector<QueuedNotice>* out) {
  if (entries.type != REDIS_REPLY_ARRAY) return;
  for (size_t i = 0; i < entries.elements; ++i) {
    const redisReply& entry = *entries.element[i];
    // A deleted entry shows up as nil or without fields (Redis 6.2).
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 ||
        entry.element[1]->type != REDIS_REPLY_ARRAY) {
      continue;
    }
    const std::string id(ReplyText(*entry.element[0]));
    const redisReply& values = *entry.element[1];
    std::vector<std::pair<std::string, std::string>> fields;
    for (size_t j = 0; j + 1 < values.elements; j += 2) {
      fields.emplace_back(ReplyText(*values.element[j]), ReplyText(*values.element[j + 1]));
    }
    QueuedNotice queued;
    queued.id = id;
    queued.queued = IdTime(id);
    absl::StatusOr<Notice> notice = NoticeFromFields(fields);
    if (notice.ok()) {
      queued.notice = *std::move(notice);
    } else {
      // Handed out with an empty profile: the worker gives it up (Done) and
      // says so, rather than leaving it to be taken for ever.
      queued.notice.profile.clear();
    }
    out->push_back(std::move(queued));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisNoticeOutbox>> RedisNoticeOutbox::New(
    RedisOptions options, size_t max_queued) {
  if (max_queued == 0) return absl::FailedPreconditionError("notice queue bound must be >= 1");
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RedisNoticeOutbox>(
      new RedisNoticeOutbox(std::move(pool), max_queued));
}

RedisNoticeOutbox::RedisNoticeOutbox(std::unique_ptr<RedisConnectionPool> pool,
                                     size_t max_queued)
    : pool_(std::move(pool)), max_queued_(max_queued) {}
RedisNoticeOutbox::~RedisNoticeOutbox() = default;

absl::Status RedisNoticeOutbox::Add(const Notice& notice) {
  constexpr absl::string_view kOp = "AddNotice";
  static const std::string script = QueueNoticeLua(1);
  const std::vector<std::string> fields = NoticeFields(notice);
  const std::string bound = absl::StrCat(max_queued_);
  std::vector<absl::string_view> argv = {"EVAL", script, "0", bound};
  argv.insert(argv.end(), fields.begin(), fields.end());
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, argv, RedisConnectionPool::Ack::kReplicas));
  if (reply->type == REDIS_REPLY_ERROR) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::Status RedisNoticeOutbox::CreateGroup() {
  constexpr absl::string_view kOp = "CreateNoticeGroup";
  // From the stream's start: notices queued before the group existed
  // (by a completion script) are delivered too.
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"XGROUP", "CREATE", kNoticeStreamKey, kNoticeGroup, "0",
                                    "MKSTREAM"}));
  if (reply->type == REDIS_REPLY_ERROR && !absl::StartsWith(ReplyText(*reply), "BUSYGROUP")) {
    return UnexpectedReply(kOp, *reply);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueuedNotice>> RedisNoticeOutbox::Take(
    absl::string_view worker, size_t max, absl::Duration retry_after) {
  std::vector<QueuedNotice> out;
  if (max == 0) return out;
  const std::string count = absl::StrCat(max);
  const std::string idle = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(retry_after)));
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string cursor;
    {
      absl::MutexLock lock(&mu_);
      cursor = claim_cursor_;
    }
    ASSIGN_OR_RETURN(RedisReplyPtr claimed,
                     pool_->Run("ClaimNotices", {"XAUTOCLAIM", kNoticeStreamKey, kNoticeGroup,
                                                 worker, idle, cursor, "COUNT", count}));
    if (IsNoGroup(*claimed)) {
      RETURN_IF_ERROR(CreateGroup());
      continue;
    }
    if (claimed->type != REDIS_REPLY_ARRAY || claimed->elements < 2) {
      return UnexpectedReply("ClaimNotices", *claimed);
    }
    {
      absl::MutexLock lock(&mu_);
      claim_cursor_ = std::string(ReplyText(*claimed->element[0]));
    }
    AppendEntries(*claimed->element[1], &out);
    if (out.size() >= max) return out;
    const std::string rest = absl::StrCat(max - out.size());
    ASSIGN_OR_RETURN(RedisReplyPtr fresh,
                     pool_->Run("TakeNotices", {"XREADGROUP", "GROUP", kNoticeGroup, worker,
                                                "COUNT", rest, "STREAMS", kNoticeStreamKey,
                                                ">"}));
    if (IsNoGroup(*fresh)) {
      RETURN_IF_ERROR(CreateGroup());
      continue;
    }
    if (fresh->type == REDIS_REPLY_NIL) return out;
    if (fresh->type != REDIS_REPLY_ARRAY) return UnexpectedReply("TakeNotices", *fresh);
    // [[stream, [entries...]]]
    for (size_t i = 0; i < fresh->elements; ++i) {
      const redisReply& stream = *fresh->element[i];
      if (stream.type == REDIS_REPLY_ARRAY && stream.elements == 2) {
        AppendEntries(*stream.element[1], &out);
      }
    }
    return out;
  }
  return out;
}

absl::Status RedisNoticeOutbox::Done(absl::string_view id) {
  constexpr absl::string_view kOp = "NoticeDone";
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EVAL", kDoneScript, "1", kNoticeStreamKey, kNoticeGroup, id}));
  if (reply->type == REDIS_REPLY_ERROR) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::StatusOr<OutboxStats> RedisNoticeOutbox::Stats() {
  constexpr absl::string_view kOp = "NoticeStats";
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EVAL", kStatsScript, "2", kNoticeStreamKey,
                                    kNoticeDroppedKey, kNoticeGroup}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
    return UnexpectedReply(kOp, *reply);
  }
  for (size_t i = 0; i < 3; ++i) {
    if (reply->element[i]->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
  }
  OutboxStats stats;
  stats.queued = reply->element[0]->integer;
  stats.pending = reply->element[1]->integer;
  stats.dropped = reply->element[2]->integer;
  return stats;
}

}  // namespace scep::redis
