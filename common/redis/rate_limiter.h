#ifndef SCEP_COMMON_REDIS_RATE_LIMITER_H_
#define SCEP_COMMON_REDIS_RATE_LIMITER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/redis/redis_options.h"

namespace scep::redis {

// One counter: at most `limit` events per fixed `window` under `key`.
struct RateLimit {
  std::string key;  // e.g. "default:client:192.0.2.7"; bounded by the caller
  int64_t limit = 0;
  absl::Duration window = absl::Minutes(1);
};

struct RateDecision {
  bool allowed = true;
  absl::Duration retry_after = absl::ZeroDuration();  // when refused
  std::string exceeded;  // key of the first limit exceeded
};

// Global rate limits shared by every gateway pod: all `limits` of one
// request are counted and checked in one atomic step (one round trip).
// Thread-safe; Unavailable when the store cannot be reached.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  virtual absl::StatusOr<RateDecision> Check(const std::vector<RateLimit>& limits) = 0;
  // Takes back one event Check counted under `limit.key`, for a request
  // that got nothing after all (answered 503): never below zero, nothing
  // once the window has ended. Unavailable when the store cannot be
  // reached (the event then stays counted).
  virtual absl::Status Refund(const RateLimit& limit) = 0;
};

// Redis: one Lua script; keys scep:rl:{key} with the window as TTL.
absl::StatusOr<std::unique_ptr<RateLimiter>> NewRedisRateLimiter(RedisOptions options);

// In-process, for unit tests; `clock` drives the windows.
std::unique_ptr<RateLimiter> NewMemoryRateLimiter(std::function<absl::Time()> clock);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_RATE_LIMITER_H_
