// RedisNoticeOutbox: the notice queue as a Redis stream and consumer group.

#include <hiredis/hiredis.h>

#include <algorithm>

#include "absl/strings/ascii.h"
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

// From the queue (KEYS[1], group ARGV[1], id ARGV[2]) to the given-up
// list (KEYS[2], about ARGV[3] kept) with the fields ARGV[4...].
constexpr char kGiveUpScript[] = R"lua(
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
)lua";

// Consumers of group ARGV[1] on KEYS[1] other than ARGV[3] with nothing
// pending, idle for ARGV[2] ms or more, deleted: how many. No group (or
// stream) yet: none.
constexpr char kForgetWorkersScript[] = R"lua(
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local n = 0
for _, consumer in ipairs(consumers) do
  local f = {}
  for i = 1, #consumer, 2 do f[consumer[i]] = consumer[i + 1] end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and f['name'] ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
)lua";

// Given-up entries ARGV[2...] of KEYS[2] back into the queue KEYS[1]
// without their "g" fields, while it holds fewer than ARGV[1]: how many.
constexpr char kRequeueScript[] = R"lua(
local n = 0
for i = 2, #ARGV do
  if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then break end
  local found = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])
  if #found == 1 then
    local fields, keep = found[1][2], {}
    for j = 1, #fields, 2 do
      if string.sub(fields[j], 1, 1) ~= 'g' then
        keep[#keep + 1] = fields[j]
        keep[#keep + 1] = fields[j + 1]
      end
    end
    redis.call('XADD', KEYS[1], '*', unpack(keep))
    redis.call('XDEL', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n
)lua";

// {length, pending, dropped, given up}; pending 0 while the group does
// not exist.
constexpr char kStatsScript[] = R"lua(
local len = redis.call('XLEN', KEYS[1])
local pending = 0
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if ok and p then pending = p[1] end
return {len, pending, tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('XLEN', KEYS[3])}
)lua";

using Fields = std::vector<std::pair<std::string, std::string>>;

// The millisecond part of a stream id ("1700000000000-0").
absl::Time IdTime(absl::string_view id) {
  int64_t ms = 0;
  (void)absl::SimpleAtoi(id.substr(0, id.find('-')), &ms);
  return absl::FromUnixMillis(ms);
}

bool IsNoGroup(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR && absl::StartsWith(ReplyText(reply), "NOGROUP");
}

// Stream entries ([id, [field, value, ...]], ...) as (id, fields).
std::vector<std::pair<std::string, Fields>> ReadEntries(const redisReply& entries) {
  std::vector<std::pair<std::string, Fields>> out;
  if (entries.type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < entries.elements; ++i) {
    const redisReply& entry = *entries.element[i];
    // A deleted entry shows up as nil or without fields (Redis 6.2).
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 ||
        entry.element[1]->type != REDIS_REPLY_ARRAY) {
      continue;
    }
    const redisReply& values = *entry.element[1];
    Fields fields;
    for (size_t j = 0; j + 1 < values.elements; j += 2) {
      fields.emplace_back(ReplyText(*values.element[j]), ReplyText(*values.element[j + 1]));
    }
    out.emplace_back(std::string(ReplyText(*entry.element[0])), std::move(fields));
  }
  return out;
}

// Reads stream entries into `out`.
void AppendEntries(const redisReply& entries, std::vector<QueuedNotice>* out) {
  for (auto& [id, fields] : ReadEntries(entries)) {
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

// A given-up list entry; false when its notice does not parse.
bool ParseGivenUp(const std::string& id, const Fields& fields, GivenUpNotice* out) {
  absl::StatusOr<Notice> notice = NoticeFromFields(fields);
  if (!notice.ok()) return false;
  out->id = id;
  out->given_up = IdTime(id);
  out->notice = *std::move(notice);
  for (const auto& [field, value] : fields) {
    if (field == "gr") out->result = value;
    if (field == "gw") out->reason = value;
    if (field == "gq") out->queued = IdTime(value);
  }
  return true;
}

// "1700000000000-0": what XADD makes, and all an XRANGE bound may be here.
bool IsStreamId(absl::string_view id) {
  const size_t dash = id.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 == id.size()) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i != dash && !absl::ascii_isdigit(static_cast<unsigned char>(id[i]))) return false;
  }
  return id.size() <= 41;
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

absl::Status RedisNoticeOutbox::GiveUp(const QueuedNotice& queued, absl::string_view result,
                                       absl::string_view reason) {
  constexpr absl::string_view kOp = "NoticeGiveUp";
  const std::vector<std::string> fields = GivenUpFields(queued, result, reason);
  const std::string bound = absl::StrCat(kGivenUpMax);
  std::vector<absl::string_view> argv = {"EVAL", kGiveUpScript, "2", kNoticeStreamKey,
                                         kNoticeGivenUpKey, kNoticeGroup, queued.id, bound};
  argv.insert(argv.end(), fields.begin(), fields.end());
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, argv, RedisConnectionPool::Ack::kReplicas));
  if (reply->type == REDIS_REPLY_ERROR) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GivenUpNotice>> RedisNoticeOutbox::GivenUp(absl::string_view profile,
                                                                      size_t max) {
  constexpr absl::string_view kOp = "ListGivenUpNotices";
  constexpr size_t kPage = 500;
  std::vector<GivenUpNotice> out;
  std::string from = "+";
  while (out.size() < max) {
    const std::string count = absl::StrCat(kPage);
    ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_->Run(kOp, {"XREVRANGE", kNoticeGivenUpKey, from,
                                                            "-", "COUNT", count}));
    if (reply->type != REDIS_REPLY_ARRAY) return UnexpectedReply(kOp, *reply);
    std::vector<std::pair<std::string, Fields>> entries = ReadEntries(*reply);
    for (const auto& [id, fields] : entries) {
      GivenUpNotice given_up;
      if (ParseGivenUp(id, fields, &given_up) &&
          (profile.empty() || given_up.notice.profile == profile) && out.size() < max) {
        out.push_back(std::move(given_up));
      }
    }
    if (reply->elements < kPage || entries.empty()) break;
    from = absl::StrCat("(", entries.back().first);  // exclusive: Redis 6.2
  }
  return out;
}

absl::StatusOr<size_t> RedisNoticeOutbox::Requeue(const std::vector<std::string>& ids) {
  constexpr absl::string_view kOp = "RequeueNotices";
  for (const std::string& id : ids) {
    if (!IsStreamId(id)) {
      return absl::InvalidArgumentError(absl::StrCat("not a notice id: ", id.substr(0, 64)));
    }
  }
  constexpr size_t kBatch = 100;  // each batch one script, bounded in time
  size_t requeued = 0;
  const std::string bound = absl::StrCat(max_queued_);
  for (size_t at = 0; at < ids.size(); at += kBatch) {
    std::vector<absl::string_view> argv = {"EVAL", kRequeueScript, "2", kNoticeStreamKey,
                                           kNoticeGivenUpKey, bound};
    for (size_t i = at; i < std::min(ids.size(), at + kBatch); ++i) argv.push_back(ids[i]);
    ASSIGN_OR_RETURN(RedisReplyPtr reply,
                     pool_->Run(kOp, argv, RedisConnectionPool::Ack::kReplicas));
    if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
    // A full queue makes each later batch stop at its first XLEN.
    requeued += static_cast<size_t>(reply->integer);
  }
  return requeued;
}

absl::StatusOr<OutboxStats> RedisNoticeOutbox::Stats() {
  constexpr absl::string_view kOp = "NoticeStats";
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EVAL", kStatsScript, "3", kNoticeStreamKey,
                                    kNoticeDroppedKey, kNoticeGivenUpKey, kNoticeGroup}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
    return UnexpectedReply(kOp, *reply);
  }
  for (size_t i = 0; i < 4; ++i) {
    if (reply->element[i]->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
  }
  OutboxStats stats;
  stats.queued = reply->element[0]->integer;
  stats.pending = reply->element[1]->integer;
  stats.dropped = reply->element[2]->integer;
  stats.given_up = reply->element[3]->integer;
  return stats;
}

absl::StatusOr<size_t> RedisNoticeOutbox::ForgetIdleWorkers(absl::string_view self,
                                                             absl::Duration idle) {
  constexpr absl::string_view kOp = "ForgetNoticeWorkers";
  const std::string idle_ms = absl::StrCat(std::max<int64_t>(0, absl::ToInt64Milliseconds(idle)));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EVAL", kForgetWorkersScript, "1", kNoticeStreamKey,
                                    kNoticeGroup, idle_ms, self}));
  if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 0) {
    return UnexpectedReply(kOp, *reply);
  }
  return static_cast<size_t>(reply->integer);
}

}  // namespace scep::redis
