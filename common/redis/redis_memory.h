#ifndef SCEP_COMMON_REDIS_REDIS_MEMORY_H_
#define SCEP_COMMON_REDIS_REDIS_MEMORY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis {

// What Redis reports of its memory, from INFO memory and INFO stats.
struct RedisMemory {
  int64_t used_bytes = 0;   // used_memory
  int64_t max_bytes = 0;    // maxmemory; 0 = no limit
  std::string policy;       // maxmemory_policy, e.g. "noeviction"
  int64_t evicted_keys = 0; // keys deleted to make room, since Redis started

  // Whether Redis may delete keys to make room: a limit is set and the
  // policy is not noeviction. Every key the gateway writes has a TTL, so
  // the volatile-* policies (the usual default of managed Redis) take
  // nonces, transactions and certificate index entries as readily as the
  // allkeys-* ones. With noeviction a full Redis refuses writes instead
  // (OOM), which the gateway answers with 503 and keeps what it must.
  bool CanEvict() const { return max_bytes > 0 && policy != "noeviction"; }
  // used / max, 0 without a limit.
  double UsedRatio() const {
    return max_bytes > 0 ? static_cast<double>(used_bytes) / static_cast<double>(max_bytes)
                         : 0.0;
  }
};

// Reads the fields above from INFO text ("field:value" lines, sections in
// any order). InvalidArgument naming the first field missing or malformed.
absl::StatusOr<RedisMemory> ParseRedisMemory(absl::string_view info);

// INFO memory and INFO stats on `pool`. Unavailable as RedisConnectionPool::Run
// (among them an ACL that refuses INFO: NOPERM).
absl::StatusOr<RedisMemory> ReadRedisMemory(RedisConnectionPool& pool);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_MEMORY_H_
