#ifndef SCEP_SERVICES_GATEWAY_REDIS_SETUP_H_
#define SCEP_SERVICES_GATEWAY_REDIS_SETUP_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/json_log.h"
#include "common/redis/redis_options.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/notifier.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

// Writes Redis answered before enough replicas acknowledged them
// (RedisOptions::on_unreplicated): each is counted; a warning line
// (redis_write_unreplicated) at most every `log_every`, with how many
// since the last one, so a replica that is down does not flood the log.
// Thread-safe; `metrics` and `log` may be null.
class UnreplicatedWrites {
 public:
  UnreplicatedWrites(GatewayMetrics* metrics, metrics::JsonLogger* log, int wanted,
                     absl::Duration log_every = absl::Seconds(10))
      : metrics_(metrics), log_(log), wanted_(wanted), log_every_(log_every) {}

  void Report(absl::string_view operation, int64_t acknowledged);

 private:
  GatewayMetrics* const metrics_;
  metrics::JsonLogger* const log_;
  const int wanted_;
  const absl::Duration log_every_;
  std::atomic<int64_t> since_log_{0};
  std::atomic<int64_t> next_log_ns_{0};
};

// The primary the gateway's Redis pools use under Sentinel
// (RedisOptions::on_primary): logs `redis_primary` (info) at the first,
// `redis_primary_changed` (warning, from and to) and counts
// scep_gateway_redis_primary_changes_total at each failover, once for all
// pools. Thread-safe; `metrics` and `log` may be null.
class SentinelPrimary {
 public:
  SentinelPrimary(GatewayMetrics* metrics, metrics::JsonLogger* log)
      : metrics_(metrics), log_(log) {}

  void Seen(const redis::RedisEndpoint& primary);

 private:
  GatewayMetrics* const metrics_;
  metrics::JsonLogger* const log_;
  absl::Mutex mu_;
  std::string current_ ABSL_GUARDED_BY(mu_);  // host:port
};

// RedisOptions from the --redis_* flags (password from
// --redis_password_file or SCEP_REDIS_PASSWORD, pool sized to --workers).
// `unreplicated` (optional, must outlive the options) hears of writes
// replicas did not acknowledge in time (--redis_wait_replicas), `primary`
// (optional, the same) of the primaries the Sentinels name.
// With --redis_tls, the TLS files are loaded here (a file that does not
// load stops start-up) and read again when they change, told to `log`
// (optional: redis_tls_reloaded / redis_tls_reload_failed).
// InvalidArgument naming the flag when one is out of range or a TLS flag
// is given without --redis_tls; FailedPrecondition naming the file that
// does not load.
absl::StatusOr<redis::RedisOptions> RedisOptionsFromFlags(UnreplicatedWrites* unreplicated,
                                                          SentinelPrimary* primary = nullptr,
                                                          metrics::JsonLogger* log = nullptr);

// Where Redis is, for the start-up line: "host:port", or
// "sentinel:<master>@s1:26379,s2:26379"; "tls:" before either with TLS.
std::string RedisTarget(const redis::RedisOptions& options);

// Issuance notices (--notice_* flags): when a profile has notify.url, the
// Redis queue and a notifier to start (named host-pid in the queue); both
// null otherwise. InvalidArgument naming the flag when one is out of range.
struct Notices {
  std::unique_ptr<redis::RedisNoticeOutbox> outbox;
  std::unique_ptr<Notifier> notifier;
  size_t queue_max = 0;
};
absl::StatusOr<Notices> NoticesFromFlags(const ProfileSet& profiles,
                                         const redis::RedisOptions& redis_options,
                                         GatewayMetrics* metrics, metrics::JsonLogger* log);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_REDIS_SETUP_H_
