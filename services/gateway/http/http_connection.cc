#include "services/gateway/http/http_connection.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "services/gateway/http/query.h"

namespace scep::gateway::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Request = http::request<http::string_body>;
// The body is a view of a string the connection keeps alive (Wire::body):
// a body shared by many responses (the CA's CRL) is written without a copy.
using Body = http::span_body<char const>;
using Response = http::response<Body>;

// A response in wire form and the bytes its body points into.
struct Wire {
  Response response;
  std::shared_ptr<const std::string> body;
};

// Deliberately version-free: no help to someone probing for known bugs.
constexpr char kServerName[] = "scep-gateway";
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// Bytes asked for per read while waiting for a request to begin.
constexpr std::size_t kIdleReadBytes = 4096;
// The read buffer holds the header being parsed plus this much. Beast's
// header_limit covers only the header and body_limit only chunk payloads, so
// without a cap a chunk-size line (chunk extensions) or a trailer that never
// ends would grow the buffer until read_timeout.
constexpr std::size_t kReadBufferSlack = 4096;
// When we close with client bytes still unread (a rejected body, pipelined
// requests), closing at once would make the kernel answer them with a RST
// that can destroy our response before the client reads it; so such bytes
// are drained for this long (or this much) first.
constexpr std::chrono::seconds kLingerTimeout(1);
constexpr std::size_t kLingerBytes = 256 * 1024;
// A response may take read_timeout plus its body at this rate (512 kbit/s)
// to be written.
constexpr double kMinSendBytesPerSecond = 64 * 1024;

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  std::string host = endpoint.address().to_string();
  if (endpoint.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

bool IsHeaderSafe(absl::string_view s) {
  return s.find_first_of(absl::string_view("\r\n\0", 3)) == s.npos;
}

bool IsServerOwnedHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "Content-Length") ||
         absl::EqualsIgnoreCase(name, "Transfer-Encoding") ||
         absl::EqualsIgnoreCase(name, "Connection") ||
         absl::EqualsIgnoreCase(name, "Server");
}

HttpResponse PlainResponse(int status, absl::string_view text) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::string(text) + "\n";
  return response;
}

HttpResponse Overloaded(const HttpServerOptions& options) {
  HttpResponse response = PlainResponse(503, "Service Unavailable");
  response.headers.emplace_back(
      "Retry-After",
      std::to_string(std::max<int64_t>(
          1, absl::ToInt64Seconds(options.queue_retry_after))));
  return response;
}

HttpResponse RunHandler(const HttpHandler& handler, HttpRequest request) {
  try {
    return handler(std::move(request));
  } catch (...) {
    // The handler is ours, but one bad request must not take down the
    // process or its neighbours on the worker pool.
    return PlainResponse(500, "Internal Server Error");
  }
}

// Converts the handler's answer to the wire form. Never throws.
Wire ToWire(HttpResponse in, unsigned version, bool head_request) {
  if (in.status < 200 || in.status > 599) {
    in = PlainResponse(500, "Internal Server Error");
  }
  Wire wire;
  Response& out = wire.response;
  out.version(version);
  out.result(static_cast<unsigned>(in.status));
  out.set(http::field::server, kServerName);
  try {
    if (!in.content_type.empty() && IsHeaderSafe(in.content_type)) {
      out.set(http::field::content_type, in.content_type);
    }
    for (const auto& [name, value] : in.headers) {
      if (name.empty() || !IsHeaderSafe(name) || !IsHeaderSafe(value) ||
          IsServerOwnedHeader(name)) {
        continue;
      }
      out.insert(name, value);
    }
    // These statuses cannot carry a body (RFC 9110 sections 15.3.5, 15.4.5).
    if (in.status == 204 || in.status == 304) {
      in.body.clear();
      in.shared_body.reset();
    }
    wire.body = in.shared_body != nullptr
                    ? std::move(in.shared_body)
                    : std::make_shared<const std::string>(std::move(in.body));
    out.body() = Body::value_type(wire.body->data(), wire.body->size());
    out.prepare_payload();
  } catch (const std::exception&) {
    // Only a header name Beast refuses (or no memory) can get here.
    Wire fallback;
    fallback.response.version(version);
    fallback.response.result(http::status::internal_server_error);
    fallback.response.set(http::field::server, kServerName);
    fallback.response.prepare_payload();
    return fallback;
  }
  // A HEAD response announces the length of the body it does not send.
  if (head_request) out.body() = Body::value_type();
  return wire;
}

// Splits a request-target into the decoded path and the raw query. Accepts
// origin-form ("/p?q") and absolute-form ("http://host/p?q"); nullopt when
// the path has a malformed escape.
std::optional<std::pair<std::string, std::string>> SplitTarget(
    absl::string_view target) {
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    const size_t authority = target.find("://") + 3;
    const size_t slash = target.find_first_of("/?", authority);
    target = slash == target.npos ? "/" : target.substr(slash);
  }
  std::string raw_query;
  const size_t question = target.find('?');
  if (question != target.npos) {
    raw_query = std::string(target.substr(question + 1));
    target = target.substr(0, question);
  }
  absl::StatusOr<std::string> path = PercentDecode(target, false);
  if (!path.ok()) return std::nullopt;
  return std::make_pair(*std::move(path), std::move(raw_query));
}

class ConnectionImpl final
    : public Connection,
      public std::enable_shared_from_this<ConnectionImpl> {
 public:
  ConnectionImpl(tcp::socket socket, const ConnectionContext& context)
      : context_(context),
        stream_(std::move(socket)),
        buffer_(context.options.max_header_bytes + kReadBufferSlack) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_address_ = FormatEndpoint(peer);
  }

  ~ConnectionImpl() override { context_.on_destroyed(this); }

  void Start() override {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->WaitForRequest(); });
  }

  std::shared_ptr<IdleMark> idle_mark() const override { return idle_mark_; }

  void Evict() override {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kIdle &&
          self->idle_mark_->since.load() == IdleMark::kEvicted) {
        self->Close();
      }
    });
  }

  void BeginShutdown() override {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->shutting_down_ = true;
      if (self->state_ == State::kIdle || self->state_ == State::kReading) {
        self->Close();
      }
    });
  }

 private:
  // kHandling and kWriting are the "in flight" states Shutdown waits for.
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  // Everything below runs on the connection's strand.

  void WaitForRequest() {
    if (shutting_down_) return Close();
    state_ = State::kIdle;
    // A pipelined request may already be buffered.
    if (buffer_.size() > 0) return ReadHeader();
    // Keep-alive idle time runs until the first byte of the next request;
    // read_timeout starts from there.
    stream_.expires_after(absl::ToChronoNanoseconds(context_.options.idle_timeout));
    idle_mark_->since.store(std::max<int64_t>(
        1, std::chrono::steady_clock::now().time_since_epoch().count()));
    stream_.async_read_some(
        buffer_.prepare(kIdleReadBytes),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          // The server may have claimed this connection just before the
          // client's bytes arrived; the claim wins (the client sees a
          // keep-alive connection closed, as after an idle timeout).
          const bool evicted = self->idle_mark_->since.exchange(
                                   IdleMark::kBusy) == IdleMark::kEvicted;
          if (ec || evicted || self->state_ == State::kClosing) {
            return self->Close();
          }
          self->buffer_.commit(n);
          self->ReadHeader();
        });
  }

  void ReadHeader() {
    if (shutting_down_) return Close();
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        context_.options.max_header_bytes));
    parser_->body_limit(context_.options.max_body_bytes);
    parser_->eager(false);  // stop after the header: OnHeader looks at it
    stream_.expires_after(absl::ToChronoNanoseconds(context_.options.read_timeout));
    Parse();
  }

  // Feeds buffer_ to parser_, reading more as needed, until the header
  // (eager off) or the whole request (eager on) is parsed, then continues
  // with OnHeader or OnRequest. Beast's own read loop is not used because
  // the parser throws std::length_error for a field over 65,535 bytes (its
  // fields store lengths in 16 bits) and that would escape the io handler,
  // dropping the client without an answer.
  void Parse() {
    while (!ParsePhaseDone() && buffer_.size() > 0) {
      beast::error_code ec;
      std::size_t used = 0;
      try {
        used = parser_->put(buffer_.data(), ec);
      } catch (const std::length_error&) {
        return Reject(431, "Request Header Fields Too Large");
      }
      buffer_.consume(used);
      if (ec == http::error::need_more || (!ec && used == 0)) break;
      if (ec) return FailRead(ec);
    }
    if (ParsePhaseDone()) {
      return parser_->eager() ? OnRequest({}) : OnHeader({});
    }
    // Fills the buffer's room; none left means a line longer than it.
    const std::size_t room = beast::read_size(buffer_, 65536);
    if (room == 0) return FailRead(http::error::buffer_overflow);
    stream_.async_read_some(
        buffer_.prepare(room),
        [self = shared_from_this()](beast::error_code ec, std::size_t n) {
          if (self->state_ == State::kClosing) return;
          self->buffer_.commit(n);
          if (ec == asio::error::eof) {
            // A request without a length ends where the stream does (never
            // one we accept, but the parser decides); else it was cut short.
            if (!self->parser_->got_some()) {
              return self->FailRead(http::error::end_of_stream);
            }
            beast::error_code eof_ec;
            self->parser_->put_eof(eof_ec);
            if (eof_ec) return self->FailRead(eof_ec);
            if (!self->ParsePhaseDone()) {
              return self->FailRead(http::error::partial_message);
            }
          } else if (ec) {
            return self->FailRead(ec);
          }
          self->Parse();
        });
  }

  bool ParsePhaseDone() const {
    return parser_->eager() ? parser_->is_done() : parser_->is_header_done();
  }

  void OnHeader(beast::error_code ec) {
    if (state_ == State::kClosing) return;
    if (ec) return FailRead(ec);
    const Request& request = parser_->get();
    // RFC 9112 section 6.3: a request whose final transfer coding is not
    // chunked has no length we could know. Beast takes it for no body, so
    // its body would be read as the next request (smuggling).
    if (request.count(http::field::transfer_encoding) > 0 &&
        !parser_->chunked()) {
      return Reject(400, "Bad Request");
    }
    // Nor does HTTP/1.0 know chunked (RFC 9112 section 6.1: such framing
    // is faulty, and a proxy in front may read it otherwise).
    if (request.version() < 11 && parser_->chunked()) return Reject(400, "Bad Request");
    // RFC 9112 section 3.2: an HTTP/1.1 request names exactly one Host, and
    // no request names two (a proxy and we could route them differently).
    const std::size_t hosts = request.count(http::field::host);
    if (hosts > 1 || (hosts == 0 && request.version() >= 11)) {
      return Reject(400, "Bad Request");
    }
    if (parser_->is_done()) return OnRequest(ec);
    if (request.version() >= 11 &&
        beast::iequals(request[http::field::expect], "100-continue")) {
      asio::async_write(
          stream_, asio::buffer(kContinue, sizeof(kContinue) - 1),
          [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (self->state_ == State::kClosing) return;
            if (ec) return self->Close();
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    parser_->eager(true);
    Parse();
  }

  void OnRequest(beast::error_code ec) {
    if (state_ == State::kClosing) return;
    if (ec) return FailRead(ec);
    Request request = parser_->release();
    parser_.reset();
    Dispatch(std::move(request));
  }

  // A read failed: answer what the client can act on, drop the rest.
  void FailRead(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Reject(431, "Request Header Fields Too Large");
    }
    if (ec == http::error::body_limit) {
      return Reject(413, "Content Too Large");
    }
    if (ec == http::error::buffer_overflow) {
      // An endless line: in the header, or in the chunked framing after it.
      return parser_ && parser_->is_header_done()
                 ? Reject(413, "Content Too Large")
                 : Reject(431, "Request Header Fields Too Large");
    }
    const bool parse_error =
        ec.category() == beast::error_code(http::error::bad_method).category();
    if (parse_error && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return Reject(400, "Bad Request");
    }
    // Client went away, timed out, or we are shutting down.
    Close();
  }

  void Reject(int status, absl::string_view text) {
    parser_.reset();
    buffer_.clear();
    linger_ = true;  // the rest of the request may still be on its way
    Write(ToWire(PlainResponse(status, text), 11, false), true);
  }

  void Dispatch(Request request) {
    std::optional<std::pair<std::string, std::string>> target =
        SplitTarget(absl::string_view(request.target().data(),
                                      request.target().size()));
    if (!target) return Reject(400, "Bad Request");
    HttpRequest in;
    in.method = std::string(request.method_string());
    in.path = std::move(target->first);
    in.raw_query = std::move(target->second);
    in.content_type = std::string(request[http::field::content_type]);
    in.remote_address = remote_address_;
    for (auto [it, end] = request.equal_range("X-Forwarded-For"); it != end; ++it) {
      if (!in.forwarded_for.empty()) in.forwarded_for += ", ";
      in.forwarded_for.append(it->value().data(), it->value().size());
    }
    in.if_none_match = std::string(request[http::field::if_none_match]);
    in.if_modified_since = std::string(request[http::field::if_modified_since]);
    in.body = std::move(request.body());
    const bool close_after = !request.keep_alive();
    const unsigned version = request.version();
    const bool head = request.method() == http::verb::head;

    state_ = State::kHandling;
    stream_.expires_never();  // the handler's time is not the client's
    asio::thread_pool& pool =
        context_.quick_workers != nullptr && context_.options.is_quick(in)
            ? *context_.quick_workers
            : *context_.workers;
    asio::post(pool,
               [self = shared_from_this(), in = std::move(in), close_after,
                version, head, strand = stream_.get_executor(),
                queued = std::chrono::steady_clock::now(),
                // Keeps the io threads alive until the response is posted.
                busy = asio::make_work_guard(*context_.io)]() mutable {
                 const HttpServerOptions& options = self->context_.options;
                 const bool stale =
                     std::chrono::steady_clock::now() - queued >
                     absl::ToChronoNanoseconds(options.max_queue_wait);
                 Wire out = ToWire(
                     stale ? Overloaded(options)
                           : RunHandler(self->context_.handler, std::move(in)),
                     version, head);
                 asio::post(strand, [self, out = std::move(out),
                                     close_after]() mutable {
                   self->Write(std::move(out), close_after);
                 });
               });
  }

  void Write(Wire wire, bool close_after) {
    if (state_ == State::kClosing) return;
    state_ = State::kWriting;
    close_after_write_ =
        close_after || shutting_down_ || context_.draining.load(std::memory_order_relaxed);
    wire.response.keep_alive(!close_after_write_);
    response_ = std::move(wire.response);
    response_body_ = std::move(wire.body);
    // Bounds a client that stops reading, and lets one that reads slowly
    // (a large CRL over a thin link) have the whole response: read_timeout
    // plus the body at kMinSendBytesPerSecond. A fixed read_timeout cut
    // off every copy of a 7 MB CRL read at under 4 Mbit/s.
    const size_t body_bytes = response_body_ != nullptr ? response_body_->size() : 0;
    stream_.expires_after(absl::ToChronoNanoseconds(
        context_.options.read_timeout +
        absl::Seconds(static_cast<double>(body_bytes) / kMinSendBytesPerSecond)));
    http::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->response_.reset();
          self->response_body_.reset();
          if (ec) return self->Close();
          if (self->close_after_write_) {
            beast::error_code ignored;
            const bool unread = self->linger_ || self->buffer_.size() > 0 ||
                                self->stream_.socket().available(ignored) > 0;
            return unread ? self->LingeringClose() : self->Close();
          }
          self->WaitForRequest();
        });
  }

  void LingeringClose() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    Drain(kLingerBytes);
  }

  void Drain(std::size_t budget) {
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(kIdleReadBytes),
        [self = shared_from_this(), budget](beast::error_code ec,
                                            std::size_t n) {
          if (ec || n >= budget) return self->Close();
          self->Drain(budget - n);
        });
  }

  void Close() {
    state_ = State::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  const ConnectionContext& context_;
  beast::tcp_stream stream_;
  std::string remote_address_;
  const std::shared_ptr<IdleMark> idle_mark_ = std::make_shared<IdleMark>();
  beast::flat_buffer buffer_;  // bounded: see kReadBufferSlack
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<Response> response_;  // alive while being written
  std::shared_ptr<const std::string> response_body_;  // what its body views
  State state_ = State::kIdle;
  bool close_after_write_ = false;
  bool linger_ = false;  // drain the client before closing
  bool shutting_down_ = false;
};

}  // namespace

std::shared_ptr<Connection> NewConnection(tcp::socket socket,
                                          const ConnectionContext& context) {
  return std::make_shared<ConnectionImpl>(std::move(socket), context);
}

}  // namespace scep::gateway::internal
