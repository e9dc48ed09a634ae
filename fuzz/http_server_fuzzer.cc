// libFuzzer target: the gateway's HTTP/1.1 server (Boost.Beast parser,
// limits, keep-alive and pipelining in http_connection.cc) fed raw bytes
// over a loopback TCP connection, exactly as a device would send them.
//
// One server lives for the whole run, with small limits so that 413 and
// 431 are reachable from short inputs. Each input is written on a fresh
// connection, the write side is shut down, and everything the server
// answers is read until it closes. Oracles besides the sanitizers: the
// server must close within a bound (no hung connection), every answer must
// be an HTTP/1.x response, and the handler only ever sees bodies within the
// limit.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/http/query.h"
#include "services/gateway/scep_service.h"

namespace {

using scep::gateway::HttpRequest;
using scep::gateway::HttpResponse;
using scep::gateway::HttpServer;
using scep::gateway::HttpServerOptions;

constexpr size_t kMaxBody = 4096;
constexpr size_t kMaxHeader = 8192;  // the production default
// Well past the server's read timeout: a connection still open by then is
// a hung connection, which is a finding.
constexpr int kCloseDeadlineMs = 10000;

HttpResponse Handle(HttpRequest request) {
  if (request.body.size() > kMaxBody) std::abort();  // limit bypassed
  HttpResponse response;
  response.content_type = "text/plain";
  auto query = scep::gateway::ParseQuery(request.raw_query);
  if (!query.ok()) {
    response.status = 400;
    return response;
  }
  for (const auto& [name, value] : *query) {
    if (name == "message") {
      auto message = scep::gateway::DecodeMessageParam(value);
      response.body += message.ok() ? "message ok\n" : "message bad\n";
    }
    if (name == "header") response.headers.emplace_back(value, value);
  }
  response.body += request.method + " " + request.path + "\n";
  return response;
}

uint16_t ServerPort() {
  static const uint16_t port = [] {
    HttpServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.io_threads = 1;
    options.worker_threads = 2;
    options.max_body_bytes = kMaxBody;
    options.max_header_bytes = kMaxHeader;
    options.read_timeout = absl::Seconds(2);
    options.idle_timeout = absl::Seconds(2);
    auto server = HttpServer::New(options, Handle);
    if (!server.ok()) {
      std::fprintf(stderr, "HttpServer::New: %s\n",
                   std::string(server.status().message()).c_str());
      std::abort();
    }
    (*server)->Start();
    // Lives until exit: libFuzzer has no teardown hook.
    static HttpServer* const kept = server->release();
    return kept->port();
  }();
  return port;
}

int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("connect");
    std::abort();
  }
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = Connect(ServerPort());
  // The server may close early (400, 413, 431) and stop reading: a failed
  // write is fine, what it answered is still checked.
  size_t sent = 0;
  while (sent < size) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);

  std::string answer;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, kCloseDeadlineMs);
    if (ready == 0) {
      std::fprintf(stderr, "server kept the connection open past %d ms\n",
                   kCloseDeadlineMs);
      std::abort();
    }
    if (ready < 0 && errno == EINTR) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;  // EOF, or reset after an early close
    answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // The status line mirrors the request's version (1.0 or 1.1).
  if (!answer.empty() && !absl::StartsWith(answer, "HTTP/1.1 ") &&
      !absl::StartsWith(answer, "HTTP/1.0 ")) {
    std::abort();
  }
  return 0;
}
