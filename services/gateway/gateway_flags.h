#ifndef SCEP_SERVICES_GATEWAY_GATEWAY_FLAGS_H_
#define SCEP_SERVICES_GATEWAY_GATEWAY_FLAGS_H_

// scep-gateway's command-line flags (defined in gateway_flags.cc; the
// README's flag tables describe them). Environment variables
// SCEP_GATEWAY_* and the config file set the same flags.

#include <string>

#include "absl/flags/declare.h"

namespace scep::gateway {

// The file defining the settings (flag_config.h, startup_log.h pick the
// flags defined there).
inline constexpr char kFlagsFile[] = "gateway/gateway_flags.cc";

}  // namespace scep::gateway

ABSL_DECLARE_FLAG(std::string, http_address);
ABSL_DECLARE_FLAG(int, http_port);
ABSL_DECLARE_FLAG(std::string, signer);
ABSL_DECLARE_FLAG(int, signer_deadline_ms);
ABSL_DECLARE_FLAG(std::string, redis_host);
ABSL_DECLARE_FLAG(int, redis_port);
ABSL_DECLARE_FLAG(std::string, redis_sentinels);
ABSL_DECLARE_FLAG(std::string, redis_sentinel_master);
ABSL_DECLARE_FLAG(std::string, redis_sentinel_password_file);
ABSL_DECLARE_FLAG(std::string, redis_sentinel_username);
ABSL_DECLARE_FLAG(bool, redis_tls);
ABSL_DECLARE_FLAG(std::string, redis_tls_ca_file);
ABSL_DECLARE_FLAG(std::string, redis_tls_cert_file);
ABSL_DECLARE_FLAG(std::string, redis_tls_key_file);
ABSL_DECLARE_FLAG(std::string, redis_tls_server_name);
ABSL_DECLARE_FLAG(int, redis_tls_refresh_seconds);
ABSL_DECLARE_FLAG(std::string, redis_username);
ABSL_DECLARE_FLAG(std::string, redis_password_file);
ABSL_DECLARE_FLAG(int, redis_timeout_ms);
ABSL_DECLARE_FLAG(int, pending_ttl_seconds);
ABSL_DECLARE_FLAG(int, http_read_timeout_seconds);
ABSL_DECLARE_FLAG(int, http_idle_timeout_seconds);
ABSL_DECLARE_FLAG(int, redis_failure_cooldown_ms);
ABSL_DECLARE_FLAG(int, redis_wait_replicas);
ABSL_DECLARE_FLAG(int, redis_wait_timeout_ms);
ABSL_DECLARE_FLAG(std::string, profile);
ABSL_DECLARE_FLAG(std::string, profiles_file);
ABSL_DECLARE_FLAG(std::string, challenge_file);
ABSL_DECLARE_FLAG(bool, allow_legacy);
ABSL_DECLARE_FLAG(bool, renewal_reindex);
ABSL_DECLARE_FLAG(int, notice_retry_seconds);
ABSL_DECLARE_FLAG(int, notice_max_age_hours);
ABSL_DECLARE_FLAG(int, notice_queue_max);
ABSL_DECLARE_FLAG(int, validity_days);
ABSL_DECLARE_FLAG(int, renewal_window_days);
ABSL_DECLARE_FLAG(int, crl_validity_hours);
ABSL_DECLARE_FLAG(int, ocsp_validity_seconds);
ABSL_DECLARE_FLAG(int, ocsp_fresh_per_client_per_minute);
ABSL_DECLARE_FLAG(int, ocsp_reuse_seconds);
ABSL_DECLARE_FLAG(std::string, crl_legacy_path_keys);
ABSL_DECLARE_FLAG(std::string, cert_digest);
ABSL_DECLARE_FLAG(int, max_body_bytes);
ABSL_DECLARE_FLAG(std::string, trusted_proxies);
ABSL_DECLARE_FLAG(int, io_threads);
ABSL_DECLARE_FLAG(int, workers);
ABSL_DECLARE_FLAG(int, retry_after_seconds);
ABSL_DECLARE_FLAG(int, max_queue_wait_ms);
ABSL_DECLARE_FLAG(int, quick_workers);
ABSL_DECLARE_FLAG(int, max_connections);
ABSL_DECLARE_FLAG(int, signer_max_attempts);
ABSL_DECLARE_FLAG(int, signer_keepalive_ms);
ABSL_DECLARE_FLAG(int, redis_memory_check_seconds);
ABSL_DECLARE_FLAG(int, signer_keepalive_timeout_ms);
ABSL_DECLARE_FLAG(std::string, signer_tls_ca);
ABSL_DECLARE_FLAG(std::string, signer_tls_cert);
ABSL_DECLARE_FLAG(std::string, signer_tls_key);
ABSL_DECLARE_FLAG(int, signer_tls_refresh_seconds);
ABSL_DECLARE_FLAG(std::string, signer_tls_server_name);
ABSL_DECLARE_FLAG(bool, insecure_plaintext);
ABSL_DECLARE_FLAG(std::string, metrics_address);
ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(int, readiness_interval_ms);
ABSL_DECLARE_FLAG(int, ca_refresh_seconds);
ABSL_DECLARE_FLAG(int, shutdown_grace_seconds);
ABSL_DECLARE_FLAG(int, drain_delay_seconds);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::string, admin_address);
ABSL_DECLARE_FLAG(int, admin_port);
ABSL_DECLARE_FLAG(std::string, admin_token_file);
ABSL_DECLARE_FLAG(std::string, admin_tls_cert);
ABSL_DECLARE_FLAG(std::string, admin_tls_key);
ABSL_DECLARE_FLAG(std::string, admin_tls_client_ca);
ABSL_DECLARE_FLAG(std::string, admin_tls_allowed_clients);

#endif  // SCEP_SERVICES_GATEWAY_GATEWAY_FLAGS_H_
