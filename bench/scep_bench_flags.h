#ifndef SCEP_BENCH_SCEP_BENCH_FLAGS_H_
#define SCEP_BENCH_SCEP_BENCH_FLAGS_H_

// scep-bench's command-line flags (defined in scep_bench_flags.cc).

#include <optional>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, url);
ABSL_DECLARE_FLAG(int, n);
ABSL_DECLARE_FLAG(int, concurrency);
ABSL_DECLARE_FLAG(int, keys);
ABSL_DECLARE_FLAG(std::string, challenge);
ABSL_DECLARE_FLAG(std::string, cipher);
ABSL_DECLARE_FLAG(std::string, digest);
ABSL_DECLARE_FLAG(std::string, mix);
ABSL_DECLARE_FLAG(int, ocsp_distinct);
ABSL_DECLARE_FLAG(bool, renew_with_challenge);
ABSL_DECLARE_FLAG(double, duration);
ABSL_DECLARE_FLAG(bool, soak);
ABSL_DECLARE_FLAG(int, producers);
ABSL_DECLARE_FLAG(int, threads);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(bool, progress);
ABSL_DECLARE_FLAG(std::string, pkcs11_module);
ABSL_DECLARE_FLAG(std::string, token_label);
ABSL_DECLARE_FLAG(std::string, pin_file);
ABSL_DECLARE_FLAG(std::string, hsm_ops);
ABSL_DECLARE_FLAG(double, seconds);
ABSL_DECLARE_FLAG(std::string, ca_cert);
ABSL_DECLARE_FLAG(std::string, ra_cert);
ABSL_DECLARE_FLAG(std::string, ca_key_label);
ABSL_DECLARE_FLAG(std::string, ra_key_label);
ABSL_DECLARE_FLAG(std::optional<std::string>, server_challenge);
ABSL_DECLARE_FLAG(bool, retry_unavailable);
ABSL_DECLARE_FLAG(double, retry_max_wait);
ABSL_DECLARE_FLAG(double, retry_give_up);
ABSL_DECLARE_FLAG(bool, confirm_retransmission);
ABSL_DECLARE_FLAG(bool, retry_poll_pending);
ABSL_DECLARE_FLAG(std::string, results_file);

#endif  // SCEP_BENCH_SCEP_BENCH_FLAGS_H_
