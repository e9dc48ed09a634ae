#include "services/gateway/http/http_server.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/gateway/http/http_connection.h"

namespace scep::gateway {
namespace {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
using internal::Connection;

// Pause before accepting again after accept() failed (e.g. EMFILE), so a
// persistent failure does not spin an io thread.
constexpr std::chrono::milliseconds kAcceptRetryDelay(50);

absl::Status ValidateOptions(const HttpServerOptions& options,
                             const HttpHandler& handler) {
  if (!handler) return absl::FailedPreconditionError("HTTP handler is empty");
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return absl::FailedPreconditionError(
        "HTTP server needs at least one io and one worker thread");
  }
  if (options.max_body_bytes == 0 || options.max_header_bytes == 0 ||
      options.max_header_bytes > std::numeric_limits<std::uint32_t>::max()) {
    return absl::FailedPreconditionError(
        "HTTP max_body_bytes and max_header_bytes must be positive "
        "(max_header_bytes below 4 GiB)");
  }
  if (options.read_timeout <= absl::ZeroDuration() ||
      options.idle_timeout <= absl::ZeroDuration()) {
    return absl::FailedPreconditionError("HTTP timeouts must be positive");
  }
  if (options.max_queue_wait <= absl::ZeroDuration() ||
      options.queue_retry_after < absl::ZeroDuration()) {
    return absl::FailedPreconditionError(
        "HTTP max_queue_wait must be positive, queue_retry_after not negative");
  }
  if (options.is_quick && options.quick_worker_threads < 1) {
    return absl::FailedPreconditionError(
        "HTTP is_quick needs at least one quick worker thread");
  }
  if (options.max_connections == 0) {
    return absl::FailedPreconditionError("HTTP max_connections must be >= 1");
  }
  return absl::OkStatus();
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : acceptor_(asio::make_strand(io_)),
        accept_retry_(acceptor_.get_executor()) {
    context_.options = std::move(options);
    context_.handler = std::move(handler);
    context_.io = &io_;
    context_.on_destroyed = [this](const Connection* c) { Unregister(c); };
  }

  absl::Status Listen() {
    const HttpServerOptions& options = context_.options;
    const std::string where =
        absl::StrCat(options.address, ":", options.port);
    boost::system::error_code ec;
    const asio::ip::address address = asio::ip::make_address(options.address, ec);
    if (ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "HTTP listen address \"", options.address,
          "\" is not a numeric IP address"));
    }
    const tcp::endpoint endpoint(address, options.port);
    if (acceptor_.open(endpoint.protocol(), ec); !ec) {
      // Lets a restarted gateway rebind while old connections sit in
      // TIME_WAIT; Linux still refuses a port another socket listens on.
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (!ec) return absl::OkStatus();
    const std::string message =
        absl::StrCat("cannot listen for HTTP on ", where, ": ", ec.message());
    if (ec == asio::error::access_denied ||
        ec == boost::system::errc::address_not_available) {
      return absl::FailedPreconditionError(message);
    }
    return absl::UnavailableError(message);
  }

  uint16_t port() const { return port_; }

  void Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_ || stopping_) return;
    started_ = true;
    workers_.emplace(context_.options.worker_threads);
    context_.workers = &*workers_;
    if (context_.options.is_quick) {
      quick_workers_.emplace(context_.options.quick_worker_threads);
      context_.quick_workers = &*quick_workers_;
    }
    // Held until Shutdown so idle io threads do not return from run().
    work_.emplace(io_.get_executor());
    asio::post(acceptor_.get_executor(), [this] { Accept(); });
    for (int i = 0; i < context_.options.io_threads; ++i) {
      io_threads_.emplace_back([this] { RunIo(); });
    }
  }

  void BeginDrain() { context_.draining.store(true, std::memory_order_relaxed); }

  void Shutdown() {
    std::lock_guard<std::mutex> serialize(shutdown_mu_);
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      if (!started_) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);  // no io thread runs: safe to touch here
        return;
      }
      for (const auto& [ptr, registered] : connections_) {
        if (std::shared_ptr<Connection> c = registered.connection.lock()) {
          live.push_back(c);
        }
      }
    }
    asio::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_.cancel();
    });
    for (const std::shared_ptr<Connection>& c : live) c->BeginShutdown();
    live.clear();
    // run() returns once the last connection is gone; in-flight handlers
    // hold their own work guards until their responses are posted.
    work_.reset();
    for (std::thread& t : io_threads_) t.join();
    io_threads_.clear();
    workers_->join();
    if (quick_workers_) quick_workers_->join();
  }

 private:
  void RunIo() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception&) {
        // A completion handler threw: that connection is lost, but the
        // others on this thread keep being served.
      }
    }
  }

  // On the acceptor's strand.
  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_),
        [this](boost::system::error_code ec, tcp::socket socket) {
          if (!acceptor_.is_open()) return;  // Shutdown closed it
          if (ec) {
            accept_retry_.expires_after(kAcceptRetryDelay);
            accept_retry_.async_wait([this](boost::system::error_code ec) {
              if (!ec && acceptor_.is_open()) Accept();
            });
            return;
          }
          std::shared_ptr<Connection> connection =
              internal::NewConnection(std::move(socket), context_);
          std::shared_ptr<Connection> evicted;
          // Refused, the connection is dropped here, closing the socket.
          if (Register(connection, evicted)) {
            if (evicted != nullptr) evicted->Evict();
            connection->Start();
          }
          Accept();
        });
  }

  // At the limit, makes room by claiming the connection idle the longest
  // (returned in `evicted`, null if it is already going away): otherwise
  // sockets opened and left idle would lock every client out until
  // idle_timeout. Refuses only when no connection is idle.
  bool Register(const std::shared_ptr<Connection>& connection,
                std::shared_ptr<Connection>& evicted) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    if (connections_.size() >= context_.options.max_connections &&
        !ClaimOldestIdle(evicted)) {
      return false;
    }
    connections_.emplace(connection.get(),
                         Registered{connection, connection->idle_mark()});
    return true;
  }

  // O(connections), only at the limit. The claimed connection is returned
  // rather than released here: its destructor takes mu_.
  bool ClaimOldestIdle(std::shared_ptr<Connection>& evicted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const Registered* oldest = nullptr;
      int64_t oldest_since = 0;
      for (const auto& [ptr, registered] : connections_) {
        const int64_t since = registered.idle->since.load();
        if (since > 0 && (oldest == nullptr || since < oldest_since)) {
          oldest = &registered;
          oldest_since = since;
        }
      }
      if (oldest == nullptr) return false;
      // Fails when that connection just began a request: look again.
      if (oldest->idle->since.compare_exchange_strong(
              oldest_since, internal::IdleMark::kEvicted)) {
        evicted = oldest->connection.lock();
        return true;
      }
    }
    return false;
  }

  void Unregister(const Connection* connection) {
    std::lock_guard<std::mutex> lock(mu_);
    connections_.erase(connection);
  }

  // Declared before io_ so pending handlers destroyed with io_ (which own
  // connections) can still reach them.
  struct Registered {
    std::weak_ptr<Connection> connection;
    std::shared_ptr<internal::IdleMark> idle;
  };

  internal::ConnectionContext context_;
  std::mutex mu_;
  std::unordered_map<const Connection*, Registered> connections_
      ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::mutex shutdown_mu_;  // a second Shutdown waits for the first

  asio::io_context io_;
  tcp::acceptor acceptor_;            // used on its own strand
  asio::steady_timer accept_retry_;   // same strand
  uint16_t port_ = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work_;
  std::optional<asio::thread_pool> workers_;
  std::optional<asio::thread_pool> quick_workers_;
  std::vector<std::thread> io_threads_;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::New(
    HttpServerOptions options, HttpHandler handler) {
  if (absl::Status status = ValidateOptions(options, handler); !status.ok()) {
    return status;
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(); }

uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::Start() { impl_->Start(); }

void HttpServer::Shutdown() { impl_->Shutdown(); }

void HttpServer::BeginDrain() { impl_->BeginDrain(); }

size_t ConnectionsWithinFileLimit(size_t wanted, uint64_t open_files) {
  const uint64_t room =
      open_files > kReservedFileDescriptors ? open_files - kReservedFileDescriptors : 1;
  return static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(wanted, room)));
}

}  // namespace scep::gateway
