#include "common/metrics/metrics_server.h"

#include <sstream>

#include "prometheus/text_serializer.h"

namespace scep::metrics {
namespace {

gateway::HttpResponse Text(int status, std::string body) {
  gateway::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  // Probes and scrapes must see the live state, never a cached one.
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

gateway::HttpResponse HandleOpsRequest(const gateway::HttpRequest& request,
                                       const prometheus::Registry& registry,
                                       const Readiness& readiness) {
  const bool known = request.path == "/metrics" || request.path == "/healthz" ||
                     request.path == "/readyz";
  if (!known) return Text(404, "not found: /metrics, /healthz, /readyz\n");
  if (request.method != "GET" && request.method != "HEAD") {
    gateway::HttpResponse r = Text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (request.path == "/healthz") return Text(200, "ok\n");
  if (request.path == "/readyz") {
    Readiness::State state = readiness.Get();
    // ?local: shared dependencies failing do not count (Readiness::
    // AddDependencyCheck); the body still names them.
    const bool ready = request.raw_query == "local" ? state.ready_locally : state.ready;
    return Text(ready ? 200 : 503, std::move(state.text));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  gateway::HttpResponse r = Text(200, out.str());
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::New(
    const MetricsServerOptions& options, const prometheus::Registry* registry,
    const Readiness* readiness) {
  gateway::HttpServerOptions http;
  http.address = options.address;
  http.port = options.port;
  http.io_threads = 1;
  http.worker_threads = 2;
  http.max_body_bytes = 1024;
  // Probes and scrapes open a connection per request or reuse one within
  // seconds: a short idle timeout and a roomy cap, so that sockets left open
  // cannot keep /healthz from the kubelet (the server also evicts the one
  // idle the longest at the cap).
  http.max_connections = 256;
  http.idle_timeout = absl::Seconds(5);
  http.read_timeout = absl::Seconds(5);
  auto server = gateway::HttpServer::New(
      http, [registry, readiness](gateway::HttpRequest request) {
        return HandleOpsRequest(request, *registry, *readiness);
      });
  if (!server.ok()) return server.status();
  return std::unique_ptr<MetricsServer>(new MetricsServer(*std::move(server)));
}

}  // namespace scep::metrics
