#ifndef SCEP_SERVICES_GATEWAY_REDIS_MEMORY_MONITOR_H_
#define SCEP_SERVICES_GATEWAY_REDIS_MEMORY_MONITOR_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/metrics/json_log.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_memory.h"
#include "common/redis/redis_options.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace scep::gateway {

// Watches what Redis says of its memory, because a Redis that evicts keys
// loses enrollment state without an error: a nonce (replay protection), a
// transaction (a second certificate for its retry), a certificate index
// entry (GetCert, revocation by serial). Every `interval` it reads INFO and
// exports
//   scep_gateway_redis_can_evict          1: a limit and a policy that may
//                                         evict (anything but noeviction)
//   scep_gateway_redis_evicted_keys       keys Redis evicted since it started
//   scep_gateway_redis_memory_used_bytes, scep_gateway_redis_memory_max_bytes
// and logs `redis_eviction_policy` (warning) when eviction becomes
// possible, `redis_eviction_policy_ok` when it no longer is,
// `redis_keys_evicted` (error) whenever the count grew, and
// `redis_memory_unknown` once when Redis will not say (e.g. an ACL without
// INFO) — then the gauges keep their last values. Each check opens a
// connection of its own and closes it, so it follows the endpoint to a new
// primary (INFO, a read, would go on working against the old one, now a
// replica, and report that server).
class RedisMemoryMonitor {
 public:
  // `registry` and `log` are not owned and must outlive this. Starts no
  // thread; Check() reads once.
  RedisMemoryMonitor(redis::RedisOptions redis, prometheus::Registry& registry,
                     metrics::JsonLogger* log);
  ~RedisMemoryMonitor();
  RedisMemoryMonitor(const RedisMemoryMonitor&) = delete;
  RedisMemoryMonitor& operator=(const RedisMemoryMonitor&) = delete;

  // Checks now and then every `interval` on a thread of its own.
  void Start(absl::Duration interval);
  // One check: reads, updates the gauges, logs what changed.
  void Check();

 private:
  void Report(const redis::RedisMemory& memory);

  const redis::RedisOptions redis_;
  metrics::JsonLogger* const log_;
  prometheus::Gauge& can_evict_;
  prometheus::Gauge& evicted_keys_;
  prometheus::Gauge& used_bytes_;
  prometheus::Gauge& max_bytes_;
  // What the previous check saw (only Check touches them).
  std::optional<redis::RedisMemory> last_;
  bool unknown_logged_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_REDIS_MEMORY_MONITOR_H_
