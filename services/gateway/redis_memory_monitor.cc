#include "services/gateway/redis_memory_monitor.h"

#include <memory>
#include <utility>

#include "absl/status/statusor.h"

namespace scep::gateway {
namespace {

prometheus::Gauge& Gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

RedisMemoryMonitor::RedisMemoryMonitor(redis::RedisOptions redis,
                                       prometheus::Registry& registry,
                                       metrics::JsonLogger* log)
    : redis_([&redis] {
        redis.pool_size = 1;
        redis.failure_cooldown = absl::ZeroDuration();
        return std::move(redis);
      }()),
      log_(log),
      can_evict_(Gauge(registry, "scep_gateway_redis_can_evict",
                       "1 when Redis has a memory limit and a policy that may evict keys "
                       "(anything but noeviction): enrollment state can vanish.")),
      evicted_keys_(Gauge(registry, "scep_gateway_redis_evicted_keys",
                          "Keys Redis evicted to make room since it started (INFO "
                          "evicted_keys).")),
      used_bytes_(Gauge(registry, "scep_gateway_redis_memory_used_bytes",
                        "Memory Redis uses (INFO used_memory).")),
      max_bytes_(Gauge(registry, "scep_gateway_redis_memory_max_bytes",
                       "Redis's memory limit (INFO maxmemory); 0: none.")) {}

RedisMemoryMonitor::~RedisMemoryMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RedisMemoryMonitor::Start(absl::Duration interval) {
  const auto wait = absl::ToChronoMilliseconds(std::max(interval, absl::Seconds(1)));
  thread_ = std::thread([this, wait] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      Check();
      lock.lock();
      cv_.wait_for(lock, wait, [this] { return stop_; });
    }
  });
}

void RedisMemoryMonitor::Check() {
  using metrics::LogLevel;
  using metrics::LogRecord;
  absl::StatusOr<std::unique_ptr<redis::RedisConnectionPool>> pool =
      redis::RedisConnectionPool::New(redis_);
  absl::StatusOr<redis::RedisMemory> memory =
      pool.ok() ? redis::ReadRedisMemory(**pool) : pool.status();
  if (!memory.ok()) {
    if (!unknown_logged_) {
      unknown_logged_ = true;
      log_->Log(LogRecord(LogLevel::kInfo, "redis_memory_unknown")
                    .Str("error", memory.status().ToString())
                    .Str("note", "cannot tell whether Redis may evict keys; the "
                                 "gateway needs maxmemory-policy noeviction"));
    }
    return;
  }
  unknown_logged_ = false;
  Report(*memory);
}

void RedisMemoryMonitor::Report(const redis::RedisMemory& memory) {
  using metrics::LogLevel;
  using metrics::LogRecord;
  can_evict_.Set(memory.CanEvict() ? 1 : 0);
  evicted_keys_.Set(static_cast<double>(memory.evicted_keys));
  used_bytes_.Set(static_cast<double>(memory.used_bytes));
  max_bytes_.Set(static_cast<double>(memory.max_bytes));
  const bool could_evict = last_.has_value() && last_->CanEvict();
  if (memory.CanEvict() && (!could_evict || last_->policy != memory.policy)) {
    log_->Log(LogRecord(LogLevel::kWarning, "redis_eviction_policy")
                  .Str("policy", memory.policy)
                  .Int("maxmemory", memory.max_bytes)
                  .Str("note", "when full, Redis deletes keys: nonces, transactions and "
                               "certificate index entries can vanish; set "
                               "maxmemory-policy noeviction"));
  } else if (!memory.CanEvict() && could_evict) {
    log_->Log(LogRecord(LogLevel::kInfo, "redis_eviction_policy_ok")
                  .Str("policy", memory.policy)
                  .Int("maxmemory", memory.max_bytes));
  }
  // A drop means Redis restarted (its count starts again).
  const int64_t before = last_.has_value() && last_->evicted_keys <= memory.evicted_keys
                             ? last_->evicted_keys
                             : 0;
  if (memory.evicted_keys > before) {
    log_->Log(LogRecord(LogLevel::kError, "redis_keys_evicted")
                  .Int("evicted", memory.evicted_keys - before)
                  .Int("evicted_total", memory.evicted_keys)
                  .Str("policy", memory.policy)
                  .Str("note", "Redis deleted keys to make room: enrollment state may "
                               "be lost; give Redis memory and set noeviction"));
  }
  last_ = memory;
}

}  // namespace scep::gateway
