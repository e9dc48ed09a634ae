#include "common/redis/redis_index_page.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_reply.h"
#include "common/redis/request_keys.h"

namespace scep::redis {
namespace {

// KEYS[1]: index. ARGV: cursor score ('' = start), cursor member, key
// prefix, filter field ('' = none), filter value, page size, scan limit.
// Starts after the cursor member by rank; when that member is gone (its
// record expired and a Put or a page dropped it), after where it stood:
// past every member scored below the cursor score, and past those scored
// equal that sort before it (byte order, as the sorted set orders them).
// Replies {more, last score, last member, {{member, {field, value, ...}},
// ...}}.
constexpr char kPageScript[] = R"lua(
local function byte_le(a, b)
  for k = 1, math.min(#a, #b) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a <= #b
end
local start, skip_score = 0, nil
if ARGV[1] ~= '' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  if rank then start = rank + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
    skip_score = tonumber(ARGV[1])
  end
end
local size, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local out, gone = {}, {}
local scanned, more = 0, false
local last_score, last_member = '', ''
local function visit(member, score)
  scanned = scanned + 1
  last_score, last_member = score, member
  local h = redis.call('HGETALL', ARGV[3] .. member)
  if #h == 0 then
    gone[#gone + 1] = member
    return
  end
  local keep = ARGV[4] == ''
  if not keep then
    for j = 1, #h, 2 do
      if h[j] == ARGV[4] then keep = h[j + 1] == ARGV[5] end
    end
  end
  if keep then out[#out + 1] = {member, h} end
end
while not more do
  local batch = redis.call('ZRANGE', KEYS[1], start, start + 127, 'WITHSCORES')
  if #batch == 0 then break end
  start = start + #batch / 2
  for i = 1, #batch, 2 do
    if #out >= size or scanned >= limit then more = true; break end
    if skip_score and not (tonumber(batch[i + 1]) == skip_score and
                           byte_le(batch[i], ARGV[2])) then
      skip_score = nil
    end
    if not skip_score then visit(batch[i], batch[i + 1]) end
  end
end
for _, m in ipairs(gone) do redis.call('ZREM', KEYS[1], m) end
return {more and '1' or '0', last_score, last_member, out}
)lua";

bool IsString(const redisReply* r) { return r->type == REDIS_REPLY_STRING; }

}  // namespace

absl::string_view FieldOf(const std::vector<std::pair<std::string, std::string>>& fields,
                          absl::string_view field) {
  for (const auto& [name, value] : fields) {
    if (name == field) return value;
  }
  return "";
}

absl::StatusOr<IndexPage> ReadIndexPage(RedisConnectionPool& pool,
                                        absl::string_view operation,
                                        const IndexPageQuery& query) {
  ASSIGN_OR_RETURN(IndexCursor cursor, ParsePageToken(query.page_token));
  const std::string score = cursor.start ? "" : absl::StrCat(cursor.score);
  const std::string size = absl::StrCat(query.page_size);
  const std::string limit = absl::StrCat(query.scan_limit);
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool.Run(operation, {"EVAL", kPageScript, "1", query.index_key,
                                        score, cursor.member, query.key_prefix,
                                        query.filter_field, query.filter_value,
                                        size, limit}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
      !IsString(reply->element[0]) || !IsString(reply->element[1]) ||
      !IsString(reply->element[2]) || reply->element[3]->type != REDIS_REPLY_ARRAY) {
    return UnexpectedReply(operation, *reply);
  }
  IndexPage page;
  const redisReply& out = *reply->element[3];
  for (size_t i = 0; i < out.elements; ++i) {
    const redisReply& item = *out.element[i];
    if (item.type != REDIS_REPLY_ARRAY || item.elements != 2 ||
        !IsString(item.element[0]) || item.element[1]->type != REDIS_REPLY_ARRAY) {
      return UnexpectedReply(operation, item);
    }
    IndexPageEntry entry;
    entry.member = std::string(ReplyText(*item.element[0]));
    const redisReply& hash = *item.element[1];
    for (size_t j = 0; j + 1 < hash.elements; j += 2) {
      if (!IsString(hash.element[j]) || !IsString(hash.element[j + 1])) {
        return UnexpectedReply(operation, hash);
      }
      entry.fields.emplace_back(ReplyText(*hash.element[j]), ReplyText(*hash.element[j + 1]));
    }
    page.entries.push_back(std::move(entry));
  }
  if (ReplyText(*reply->element[0]) == "1") {
    int64_t last = 0;
    if (!absl::SimpleAtoi(ReplyText(*reply->element[1]), &last)) {
      return UnexpectedReply(operation, *reply->element[1]);
    }
    page.next_page_token = PageToken(last, ReplyText(*reply->element[2]));
  }
  return page;
}

}  // namespace scep::redis
