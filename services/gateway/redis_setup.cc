#include "services/gateway/redis_setup.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/base/secret.h"
#include "services/gateway/gateway_flags.h"
#include "services/gateway/tls_client.h"

namespace scep::gateway {
namespace {

// An optional secret: read (base::ReadSecret) when its file or its
// variable is given, nullopt when neither is.
absl::StatusOr<std::optional<std::string>> OptionalSecret(const std::string& what,
                                                          const std::string& path,
                                                          const char* env) {
  const char* value = std::getenv(env);
  if (path.empty() && (value == nullptr || *value == '\0')) return std::nullopt;
  ASSIGN_OR_RETURN(std::string secret, base::ReadSecret(what, path, env));
  return secret;
}

}  // namespace

void UnreplicatedWrites::Report(absl::string_view operation, int64_t acknowledged) {
  if (metrics_ != nullptr) metrics_->RedisUnreplicated(operation);
  const int64_t count = since_log_.fetch_add(1) + 1;
  if (log_ == nullptr) return;
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t due = next_log_ns_.load();
  if (now < due || !next_log_ns_.compare_exchange_strong(
                       due, now + absl::ToInt64Nanoseconds(log_every_))) {
    return;
  }
  since_log_.fetch_sub(count);
  log_->Log(metrics::LogRecord(metrics::LogLevel::kWarning, "redis_write_unreplicated")
                .Str("operation", operation)
                .Int("replicas_acknowledged", acknowledged)
                .Int("replicas_wanted", wanted_)
                .Int("writes_since_last_line", count)
                .Str("note", "answered before replicas had it: a failover now could lose it"));
}

namespace {

// TLS to Redis from the --redis_tls* flags (RedisOptions::tls).
absl::Status TlsFromFlags(redis::RedisOptions& options, metrics::JsonLogger* log) {
  TlsClientFiles files{absl::GetFlag(FLAGS_redis_tls_ca_file),
                       absl::GetFlag(FLAGS_redis_tls_cert_file),
                       absl::GetFlag(FLAGS_redis_tls_key_file)};
  const std::string server_name = absl::GetFlag(FLAGS_redis_tls_server_name);
  if (!absl::GetFlag(FLAGS_redis_tls)) {
    if (!files.ca_file.empty() || !files.cert_file.empty() || !files.key_file.empty() ||
        !server_name.empty()) {
      return absl::InvalidArgumentError(
          "--redis_tls_ca_file, --redis_tls_cert_file, --redis_tls_key_file and "
          "--redis_tls_server_name need --redis_tls");
    }
    return absl::OkStatus();
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError("--redis_tls_cert_file and --redis_tls_key_file go together");
  }
  const int refresh = absl::GetFlag(FLAGS_redis_tls_refresh_seconds);
  if (refresh < 1) return absl::InvalidArgumentError("--redis_tls_refresh_seconds must be >= 1");
  ASSIGN_OR_RETURN(std::shared_ptr<TlsClientContext> context,
                   TlsClientContext::New(std::move(files), "--redis_tls", absl::Seconds(refresh),
                                         TlsReloadLog{log, "", "redis_tls"}));
  options.tls = [context] { return context->Get(); };
  options.tls_server_name = server_name;
  return absl::OkStatus();
}

}  // namespace

std::string RedisTarget(const redis::RedisOptions& options) {
  const char* tls = options.tls != nullptr ? "tls:" : "";
  if (options.sentinels.empty()) return absl::StrCat(tls, options.host, ":", options.port);
  return absl::StrCat(tls, "sentinel:", options.sentinel_master, "@",
                      absl::StrJoin(options.sentinels, ",",
                                    [](std::string* out, const redis::RedisEndpoint& s) {
                                      absl::StrAppend(out, s.host, ":", s.port);
                                    }));
}

void SentinelPrimary::Seen(const redis::RedisEndpoint& primary) {
  const std::string now = absl::StrCat(primary.host, ":", primary.port);
  std::string before;
  {
    absl::MutexLock lock(&mu_);
    if (now == current_) return;
    before = std::exchange(current_, now);
  }
  if (before.empty()) {
    if (log_ != nullptr) {
      log_->Log(metrics::LogRecord(metrics::LogLevel::kInfo, "redis_primary").Str("primary", now));
    }
    return;
  }
  if (metrics_ != nullptr) metrics_->RedisPrimaryChanged();
  if (log_ != nullptr) {
    log_->Log(metrics::LogRecord(metrics::LogLevel::kWarning, "redis_primary_changed")
                  .Str("from", before)
                  .Str("to", now)
                  .Str("note", "the Sentinels named another primary (a failover)"));
  }
}

absl::StatusOr<redis::RedisOptions> RedisOptionsFromFlags(UnreplicatedWrites* unreplicated,
                                                          SentinelPrimary* primary,
                                                          metrics::JsonLogger* log) {
  redis::RedisOptions options;
  options.host = absl::GetFlag(FLAGS_redis_host);
  options.port = absl::GetFlag(FLAGS_redis_port);
  options.username = absl::GetFlag(FLAGS_redis_username);
  ASSIGN_OR_RETURN(std::optional<std::string> password,
                   OptionalSecret("Redis password", absl::GetFlag(FLAGS_redis_password_file),
                                  "SCEP_REDIS_PASSWORD"));
  options.password = password.value_or("");
  absl::StatusOr<std::vector<redis::RedisEndpoint>> sentinels =
      redis::ParseRedisEndpoints(absl::GetFlag(FLAGS_redis_sentinels), 26379);
  if (!sentinels.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--redis_sentinels: ", sentinels.status().message()));
  }
  options.sentinels = *std::move(sentinels);
  options.sentinel_master = absl::GetFlag(FLAGS_redis_sentinel_master);
  if (!options.sentinels.empty() && options.sentinel_master.empty()) {
    return absl::InvalidArgumentError("--redis_sentinel_master must name the primary");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> sentinel_password,
                   OptionalSecret("Redis Sentinel password",
                                  absl::GetFlag(FLAGS_redis_sentinel_password_file),
                                  "SCEP_REDIS_SENTINEL_PASSWORD"));
  if (sentinel_password.has_value() && options.sentinels.empty()) {
    return absl::InvalidArgumentError(
        "a Sentinel password (--redis_sentinel_password_file or "
        "SCEP_REDIS_SENTINEL_PASSWORD) needs --redis_sentinels");
  }
  options.sentinel_password = sentinel_password.value_or("");
  options.sentinel_username = absl::GetFlag(FLAGS_redis_sentinel_username);
  if (!options.sentinel_username.empty() && !sentinel_password.has_value()) {
    return absl::InvalidArgumentError(
        "--redis_sentinel_username needs the Sentinel password "
        "(--redis_sentinel_password_file or SCEP_REDIS_SENTINEL_PASSWORD)");
  }
  RETURN_IF_ERROR(TlsFromFlags(options, log));
  if (!options.sentinels.empty() && primary != nullptr) {
    options.on_primary = [primary](const redis::RedisEndpoint& p) { primary->Seen(p); };
  }
  options.pool_size = static_cast<size_t>(absl::GetFlag(FLAGS_workers));
  const int timeout_ms = absl::GetFlag(FLAGS_redis_timeout_ms);
  if (timeout_ms < 1 || absl::GetFlag(FLAGS_redis_failure_cooldown_ms) < 0) {
    return absl::InvalidArgumentError(
        "--redis_timeout_ms must be >= 1 and --redis_failure_cooldown_ms >= 0");
  }
  options.command_timeout = absl::Milliseconds(timeout_ms);
  options.failure_cooldown = absl::Milliseconds(absl::GetFlag(FLAGS_redis_failure_cooldown_ms));
  const int replicas = absl::GetFlag(FLAGS_redis_wait_replicas);
  const int wait_ms = absl::GetFlag(FLAGS_redis_wait_timeout_ms);
  if (replicas < 0 || replicas > 16) {
    return absl::InvalidArgumentError("--redis_wait_replicas must be 0 to 16");
  }
  // WAIT holds the connection: its reply must come before the command
  // timeout gives the connection up. Without replicas no WAIT is sent, so
  // a short --redis_timeout_ms alone is fine.
  if (replicas > 0 && (wait_ms < 1 || wait_ms >= timeout_ms)) {
    return absl::InvalidArgumentError(
        "--redis_wait_timeout_ms must be >= 1 and below --redis_timeout_ms");
  }
  options.wait_replicas = replicas;
  options.wait_timeout = absl::Milliseconds(wait_ms);
  if (replicas > 0 && unreplicated != nullptr) {
    options.on_unreplicated = [unreplicated](absl::string_view op, int64_t acknowledged) {
      unreplicated->Report(op, acknowledged);
    };
  }
  return options;
}

absl::StatusOr<Notices> NoticesFromFlags(const ProfileSet& profiles,
                                         const redis::RedisOptions& redis_options,
                                         GatewayMetrics* metrics, metrics::JsonLogger* log) {
  const int retry = absl::GetFlag(FLAGS_notice_retry_seconds);
  const int max_age = absl::GetFlag(FLAGS_notice_max_age_hours);
  const int queue_max = absl::GetFlag(FLAGS_notice_queue_max);
  if (retry < 1) return absl::InvalidArgumentError("--notice_retry_seconds must be >= 1");
  if (max_age < 1) return absl::InvalidArgumentError("--notice_max_age_hours must be >= 1");
  if (queue_max < 1) return absl::InvalidArgumentError("--notice_queue_max must be >= 1");
  Notices notices;
  notices.queue_max = static_cast<size_t>(queue_max);
  if (std::none_of(profiles.All().begin(), profiles.All().end(),
                   [](const Profile& p) { return !p.notice_url.empty(); })) {
    return notices;
  }
  ASSIGN_OR_RETURN(notices.outbox, redis::RedisNoticeOutbox::New(redis_options, notices.queue_max));
  NotifierOptions options;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  options.worker = absl::StrCat(host, "-", getpid());
  options.retry_after = absl::Seconds(retry);
  options.max_age = absl::Hours(max_age);
  notices.notifier = std::make_unique<Notifier>(options, notices.outbox.get(), &profiles,
                                                HttpNoticePoster(), metrics, log);
  return notices;
}

}  // namespace scep::gateway
