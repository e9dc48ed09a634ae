#ifndef SCEP_SERVICES_GATEWAY_HTTP_HTTP_CONNECTION_H_
#define SCEP_SERVICES_GATEWAY_HTTP_HTTP_CONNECTION_H_

// Internal to gateway_http. Asio types only: Beast stays in
// http_connection.cc so that only one translation unit pays for it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "services/gateway/http/http_server.h"

namespace scep::gateway::internal {

class Connection;

// What every connection shares with its server; outlives all connections.
struct ConnectionContext {
  HttpServerOptions options;
  HttpHandler handler;
  boost::asio::io_context* io = nullptr;        // kept busy while handling
  boost::asio::thread_pool* workers = nullptr;  // runs the handler
  // Runs the handler for requests options.is_quick picks; null without it.
  boost::asio::thread_pool* quick_workers = nullptr;
  // Called from the connection's destructor, on any thread.
  std::function<void(const Connection*)> on_destroyed;
  // HttpServer::BeginDrain was called: every response closes its connection.
  std::atomic<bool> draining{false};
};

// Whether a connection is idle, shared by the connection and its server's
// registry so the server can choose a connection to evict without touching
// one that is being destroyed.
struct IdleMark {
  static constexpr int64_t kBusy = 0;
  static constexpr int64_t kEvicted = -1;
  // While the connection waits for a request with nothing buffered or in
  // progress: std::chrono::steady_clock ticks since when (> 0). kBusy
  // otherwise. kEvicted once the server has claimed it (compare-exchange
  // from a time): from then on the connection only closes.
  std::atomic<int64_t> since{kBusy};
};

// One accepted client connection, serving its requests one at a time until
// either side closes. It owns itself through the shared_ptrs held by its
// pending operations and is destroyed once none is pending.
class Connection {
 public:
  virtual ~Connection() = default;

  // Begins serving. Call once.
  virtual void Start() = 0;

  // Asks the connection to finish: an idle connection or a half-read
  // request is dropped; a request already handed to the handler is answered
  // (with "Connection: close") first. Thread-safe.
  virtual void BeginShutdown() = 0;

  // The connection's IdleMark, the same for its whole life.
  virtual std::shared_ptr<IdleMark> idle_mark() const = 0;

  // Closes the connection if its IdleMark is kEvicted; if a request began
  // meanwhile, the connection closes when it sees the mark instead.
  // Thread-safe.
  virtual void Evict() = 0;
};

// `socket` must be bound to a strand of `*context.io`; `context` must
// outlive the connection.
std::shared_ptr<Connection> NewConnection(boost::asio::ip::tcp::socket socket,
                                          const ConnectionContext& context);

}  // namespace scep::gateway::internal

#endif  // SCEP_SERVICES_GATEWAY_HTTP_HTTP_CONNECTION_H_
