#ifndef SCEP_SERVICES_SIGNER_SIGNER_FLAGS_H_
#define SCEP_SERVICES_SIGNER_SIGNER_FLAGS_H_

// scep-signer's command-line flags (defined in signer_flags.cc; the
// README's flag tables describe them). Environment variables SCEP_SIGNER_*
// and the config file set the same flags.

#include <string>
#include <vector>

#include "absl/flags/declare.h"

namespace scep::signer {

// The file defining the settings (flag_config.h, startup_log.h pick the
// flags defined there).
inline constexpr char kFlagsFile[] = "signer/signer_flags.cc";

}  // namespace scep::signer

ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(std::string, pkcs11_module);
ABSL_DECLARE_FLAG(std::string, token_label);
ABSL_DECLARE_FLAG(std::string, pin_file);
ABSL_DECLARE_FLAG(std::string, ca_cert);
ABSL_DECLARE_FLAG(std::string, ra_cert);
ABSL_DECLARE_FLAG(std::string, next_ca_cert);
ABSL_DECLARE_FLAG(std::string, next_ra_cert);
ABSL_DECLARE_FLAG(std::string, ca_key_label);
ABSL_DECLARE_FLAG(std::string, ra_key_label);
ABSL_DECLARE_FLAG(std::string, ra_token_label);
ABSL_DECLARE_FLAG(std::string, ra_pkcs11_module);
ABSL_DECLARE_FLAG(std::string, ra_pin_file);
ABSL_DECLARE_FLAG(std::string, ra_key_file);
ABSL_DECLARE_FLAG(std::vector<std::string>, issuing_cas);
ABSL_DECLARE_FLAG(std::string, issuing_cas_dir);
ABSL_DECLARE_FLAG(std::string, issuance_policy);
ABSL_DECLARE_FLAG(std::string, audit_log);
ABSL_DECLARE_FLAG(bool, audit_required);
ABSL_DECLARE_FLAG(bool, audit_certificates);
ABSL_DECLARE_FLAG(int, max_issuance_per_minute);
ABSL_DECLARE_FLAG(int, workers);
ABSL_DECLARE_FLAG(int, max_queue);
ABSL_DECLARE_FLAG(int, keepalive_ms);
ABSL_DECLARE_FLAG(int, keepalive_timeout_ms);
ABSL_DECLARE_FLAG(int, max_connection_age_seconds);
ABSL_DECLARE_FLAG(int, token_wait_seconds);
ABSL_DECLARE_FLAG(int, ocsp_workers);
ABSL_DECLARE_FLAG(int, ocsp_max_queue);
ABSL_DECLARE_FLAG(int, validity_days);
ABSL_DECLARE_FLAG(std::string, digest);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);
ABSL_DECLARE_FLAG(int, tls_refresh_seconds);
ABSL_DECLARE_FLAG(bool, insecure_plaintext);
ABSL_DECLARE_FLAG(std::string, metrics_address);
ABSL_DECLARE_FLAG(int, metrics_port);
ABSL_DECLARE_FLAG(int, readiness_interval_ms);
ABSL_DECLARE_FLAG(int, shutdown_grace_seconds);
ABSL_DECLARE_FLAG(int, drain_delay_seconds);
ABSL_DECLARE_FLAG(std::string, log_level);

#endif  // SCEP_SERVICES_SIGNER_SIGNER_FLAGS_H_
