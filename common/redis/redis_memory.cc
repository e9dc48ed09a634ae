#include "common/redis/redis_memory.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_reply.h"

namespace scep::redis {
namespace {

absl::StatusOr<int64_t> Number(const absl::flat_hash_map<std::string, std::string>& fields,
                               absl::string_view name) {
  auto it = fields.find(name);
  int64_t value = 0;
  if (it == fields.end() || !absl::SimpleAtoi(it->second, &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Redis INFO: no valid ", name));
  }
  return value;
}

absl::StatusOr<std::string> Section(RedisConnectionPool& pool, absl::string_view section) {
  constexpr absl::string_view kOp = "Info";
  ASSIGN_OR_RETURN(RedisReplyPtr reply, pool.Run(kOp, {"INFO", section}));
  if (reply->type != REDIS_REPLY_STRING) {
    return UnexpectedReply(kOp, *reply);
  }
  return std::string(ReplyText(*reply));
}

}  // namespace

absl::StatusOr<RedisMemory> ParseRedisMemory(absl::string_view info) {
  absl::flat_hash_map<std::string, std::string> fields;
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    line = absl::StripSuffix(line, "\r");
    if (line.empty() || line.front() == '#') continue;
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    fields[kv.first] = std::string(kv.second);
  }
  RedisMemory memory;
  ASSIGN_OR_RETURN(memory.used_bytes, Number(fields, "used_memory"));
  ASSIGN_OR_RETURN(memory.max_bytes, Number(fields, "maxmemory"));
  ASSIGN_OR_RETURN(memory.evicted_keys, Number(fields, "evicted_keys"));
  auto policy = fields.find("maxmemory_policy");
  if (policy == fields.end() || policy->second.empty()) {
    return absl::InvalidArgumentError("Redis INFO: no maxmemory_policy");
  }
  memory.policy = policy->second;
  return memory;
}

absl::StatusOr<RedisMemory> ReadRedisMemory(RedisConnectionPool& pool) {
  ASSIGN_OR_RETURN(std::string memory, Section(pool, "memory"));
  ASSIGN_OR_RETURN(std::string stats, Section(pool, "stats"));
  return ParseRedisMemory(absl::StrCat(memory, "\n", stats));
}

}  // namespace scep::redis
