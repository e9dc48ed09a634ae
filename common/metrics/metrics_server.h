#ifndef SCEP_COMMON_METRICS_METRICS_SERVER_H_
#define SCEP_COMMON_METRICS_METRICS_SERVER_H_

// The operations endpoint of every process, on a port apart from the
// service's own:
//   GET /metrics  Prometheus text exposition 0.0.4 of the injected registry
//   GET /healthz  200 "ok" while the process runs (liveness)
//   GET /readyz   200 "ready", or 503 naming each check that fails
//
// Served by the project's Boost.Beast HttpServer rather than prometheus-cpp's
// Exposer: one HTTP stack to harden and reason about (limits, timeouts,
// drain), and /readyz needs its own status codes, which Exposer's civetweb
// handlers would need a second server API for. prometheus-cpp is used only
// for the data model and TextSerializer (prometheus-cpp::core, no civetweb).

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics/readiness.h"
#include "prometheus/registry.h"
#include "services/gateway/http/http_server.h"

namespace scep::metrics {

// Answers one operations request. Pure apart from reading `registry` and
// `readiness`; thread-safe.
gateway::HttpResponse HandleOpsRequest(const gateway::HttpRequest& request,
                                       const prometheus::Registry& registry,
                                       const Readiness& readiness);

struct MetricsServerOptions {
  std::string address = "127.0.0.1";  // numeric IPv4 or IPv6
  uint16_t port = 9100;               // 0 = pick a free port
};

// The HTTP listener for HandleOpsRequest. Thread-safe.
class MetricsServer {
 public:
  // Binds (no thread yet). `registry` and `readiness` are not owned and
  // must outlive the server. Errors as HttpServer::New.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> New(
      const MetricsServerOptions& options, const prometheus::Registry* registry,
      const Readiness* readiness);

  uint16_t port() const { return http_->port(); }
  void Start() { http_->Start(); }
  // Finishes in-flight scrapes, then stops. Idempotent.
  void Shutdown() { http_->Shutdown(); }

 private:
  explicit MetricsServer(std::unique_ptr<gateway::HttpServer> http)
      : http_(std::move(http)) {}

  std::unique_ptr<gateway::HttpServer> http_;
};

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_METRICS_SERVER_H_
