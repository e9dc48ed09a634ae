#include "common/redis/rate_limiter.h"

#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis {
namespace {

// KEYS: counters. ARGV: limit_1, window_ms_1, limit_2, window_ms_2, ...
// Every counter is incremented (a refused attempt still counts); the reply is
// {index of the first exceeded limit or 0, its remaining TTL in ms}.
constexpr char kScript[] = R"lua(
local exceeded, wait = 0, 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local window = tonumber(ARGV[2 * i])
  if count == 1 then redis.call('PEXPIRE', key, window) end
  if exceeded == 0 and count > tonumber(ARGV[2 * i - 1]) then
    exceeded = i
    wait = redis.call('PTTL', key)
    if wait < 0 then wait = window end
  end
end
return {exceeded, wait})lua";

// KEYS: one counter. Decrements it while positive; keeps its TTL.
constexpr char kRefundScript[] = R"lua(
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count and count > 0 then redis.call('DECR', KEYS[1]) end
return 0)lua";

// Sent by digest (EVALSHA): Check runs on every enrollment.
class RedisRateLimiter final : public RateLimiter {
 public:
  explicit RedisRateLimiter(std::unique_ptr<RedisConnectionPool> pool)
      : pool_(std::move(pool)),
        check_(MakeLuaScript(kScript)),
        refund_(MakeLuaScript(kRefundScript)) {}

  absl::StatusOr<RateDecision> Check(const std::vector<RateLimit>& limits) override {
    RateDecision decision;
    if (limits.empty()) return decision;
    std::vector<std::string> keys, args;
    for (const RateLimit& l : limits) {
      keys.push_back(absl::StrCat("scep:rl:", l.key));
      args.push_back(absl::StrCat(l.limit));
      args.push_back(absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(l.window))));
    }
    ASSIGN_OR_RETURN(RedisReplyPtr reply,
                     EvalScript(*pool_, "RateLimit", check_,
                                std::vector<absl::string_view>(keys.begin(), keys.end()),
                                std::vector<absl::string_view>(args.begin(), args.end())));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
      return absl::UnavailableError("Redis RateLimit: unexpected reply");
    }
    const long long index = reply->element[0]->integer;
    if (index > 0 && static_cast<size_t>(index) <= limits.size()) {
      decision.allowed = false;
      decision.exceeded = limits[index - 1].key;
      decision.retry_after = absl::Milliseconds(reply->element[1]->integer);
    }
    return decision;
  }

  absl::Status Refund(const RateLimit& limit) override {
    const std::string key = absl::StrCat("scep:rl:", limit.key);
    ASSIGN_OR_RETURN(RedisReplyPtr reply, EvalScript(*pool_, "RateRefund", refund_, {key}, {}));
    if (reply->type != REDIS_REPLY_INTEGER) {
      return absl::UnavailableError("Redis RateRefund: unexpected reply");
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<RedisConnectionPool> pool_;
  const LuaScript check_;
  const LuaScript refund_;
};

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(std::function<absl::Time()> clock) : clock_(std::move(clock)) {}

  absl::StatusOr<RateDecision> Check(const std::vector<RateLimit>& limits) override {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = clock_();
    RateDecision decision;
    for (const RateLimit& l : limits) {
      Counter& c = counters_[l.key];
      if (c.expires <= now) c = Counter{0, now + l.window};
      ++c.count;
      if (decision.allowed && c.count > l.limit) {
        decision.allowed = false;
        decision.exceeded = l.key;
        decision.retry_after = c.expires - now;
      }
    }
    return decision;
  }

  absl::Status Refund(const RateLimit& limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counters_.find(limit.key);
    if (it != counters_.end() && it->second.expires > clock_() && it->second.count > 0) {
      --it->second.count;
    }
    return absl::OkStatus();
  }

 private:
  struct Counter {
    int64_t count = 0;
    absl::Time expires;
  };
  std::function<absl::Time()> clock_;
  std::mutex mu_;
  std::map<std::string, Counter> counters_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RateLimiter>> NewRedisRateLimiter(RedisOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RateLimiter>(new RedisRateLimiter(std::move(pool)));
}

std::unique_ptr<RateLimiter> NewMemoryRateLimiter(std::function<absl::Time()> clock) {
  return std::make_unique<MemoryRateLimiter>(std::move(clock));
}

}  // namespace scep::redis
