#ifndef SCEP_SERVICES_GATEWAY_HTTP_HTTP_SERVER_H_
#define SCEP_SERVICES_GATEWAY_HTTP_HTTP_SERVER_H_

// The device-facing HTTP/1.1 server of the SCEP gateway (RFC 8894 section
// 4.1: SCEP rides on plain HTTP GET and POST).
//
// Built on Boost.Beast over Asio: Beast is header-only in Debian 12's Boost
// 1.74 (no extra library to ship), its HTTP/1.1 parser is mature and enforces
// header and body limits before buffering, and Asio strands give async I/O
// where thousands of idle keep-alive device connections cost a socket each,
// not a thread. Beast stays inside the .cc files (pimpl) so this header pulls
// in no Boost and includers compile fast.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/gateway/http/query.h"

namespace scep::gateway {

// One well-formed request as received from an untrusted client.
struct HttpRequest {
  std::string method;          // "GET", "POST", ... as sent
  std::string path;            // percent-decoded path, without query
  std::string raw_query;       // as received, after '?' ("" when absent)
  std::string body;            // at most HttpServerOptions::max_body_bytes
  std::string content_type;    // Content-Type header, "" when absent
  std::string remote_address;  // peer "ip:port" ("[ip6]:port" for IPv6)
  // X-Forwarded-For header values joined with ", " ("" when absent). Only
  // meaningful when the peer is a trusted proxy (see TrustedProxies).
  std::string forwarded_for;
  // Conditional-request headers as sent ("" when absent; RFC 9110 13.1).
  std::string if_none_match;
  std::string if_modified_since;
};

struct HttpResponse {
  // Must be a final status in [200, 599]; anything else is sent as 500.
  int status = 200;
  std::string content_type;  // omitted when empty
  std::string body;
  // When set, the body instead of `body`: bytes shared with other
  // responses (the CA's kept CRL), written without a copy per request.
  std::shared_ptr<const std::string> shared_body;
  // Extra headers, e.g. Retry-After. Headers the server owns (Content-Length,
  // Transfer-Encoding, Connection, Server) and any name or value containing
  // CR, LF or NUL are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called on a worker thread, concurrently for different requests; may block
// (it makes gRPC and Redis calls); must be thread-safe. Exceptions it throws
// are caught and answered with 500.
using HttpHandler = std::function<HttpResponse(HttpRequest)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // numeric IPv4 or IPv6 address
  uint16_t port = 8080;               // 0 = pick a free port
  int io_threads = 1;
  int worker_threads = 16;  // handler pool
  size_t max_body_bytes = 64 * 1024;
  size_t max_header_bytes = 8 * 1024;
  // From the first byte of a request to its last; slow clients are cut off.
  // Also bounds writing a response to a client that does not read: a
  // response may take read_timeout plus its body at 64 KiB/s.
  absl::Duration read_timeout = absl::Seconds(15);
  absl::Duration idle_timeout = absl::Seconds(30);  // keep-alive idle
  // A request that waited longer than this for a worker thread is answered
  // 503 with Retry-After: queue_retry_after, without running the handler:
  // under overload its client has likely given up already, and running it
  // anyway would only keep newer requests waiting.
  absl::Duration max_queue_wait = absl::Seconds(5);
  absl::Duration queue_retry_after = absl::Seconds(5);
  // Requests for which this returns true run on `quick_worker_threads`
  // threads of their own, never queued behind slow requests (e.g. ones
  // waiting for a stalled backend). Called on an io thread: it must be
  // cheap, must not block and must not throw. Empty: one pool for all.
  std::function<bool(const HttpRequest&)> is_quick;
  int quick_worker_threads = 2;
  // At this many connections, a new one makes the one idle the longest
  // (waiting for a request, nothing in progress) close; when none is idle
  // the new one is accepted and closed at once.
  size_t max_connections = 10000;
};

// Descriptors kept free of device connections for Redis, the signer, hooks
// and logs.
inline constexpr uint64_t kReservedFileDescriptors = 512;

// `wanted` connections, or fewer when the open-file limit (after
// RaiseOpenFileLimit) cannot hold them beside kReservedFileDescriptors: a
// server past its file limit fails accept() with EMFILE and stops taking
// connections instead of closing idle ones, and its Redis and gRPC sockets
// fail too. At least 1.
size_t ConnectionsWithinFileLimit(size_t wanted, uint64_t open_files);

// An HTTP/1.1 server handing each well-formed request to an HttpHandler.
//
// Keep-alive (HTTP/1.1 default, HTTP/1.0 on request) and pipelining are
// supported; a connection's requests are answered in order, one at a time.
// The server itself answers only requests it cannot hand over: 400 for
// unparseable HTTP (a malformed %-escape in the path, or a Transfer-Encoding
// whose last coding is not chunked, included), 413 for a body over the limit
// (or chunked framing longer than the read buffer), 431 for an oversized
// header, each followed by closing the connection; 500 when the handler
// throws. Every response carries Content-Length and a version-free Server
// header. "Expect: 100-continue" is honoured.
//
// Thread-safe: all methods may be called from any thread.
class HttpServer {
 public:
  // Validates `options`, binds and listens (no thread started yet).
  // FailedPrecondition for invalid options or address; Unavailable when the
  // address or port is in use or cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> New(
      HttpServerOptions options, HttpHandler handler);

  // Shutdown(), then releases everything.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  uint16_t port() const;

  // Spawns the io and worker threads and starts accepting; returns at once.
  // Calls after the first, or after Shutdown(), do nothing.
  void Start();

  // The pod is leaving its Service: from now on every response says
  // "Connection: close" and closes its connection, so that clients whose
  // balancer keeps an open connection pinned here (L4 balancers, kube-proxy
  // for established connections) open a new one elsewhere before Shutdown
  // closes idle ones. Connections are still accepted and served. Any
  // thread; idempotent.
  void BeginDrain();

  // Stops accepting and closes idle connections; requests already handed
  // to the handler run to completion and their responses are written (with
  // "Connection: close"); then joins every thread. Blocks until then: as
  // long as the slowest in-flight handler, plus at most read_timeout for a
  // client slow to take its response. Must not be called from the handler.
  // Idempotent.
  void Shutdown();

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_HTTP_SERVER_H_
