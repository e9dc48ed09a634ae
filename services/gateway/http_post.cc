#include "services/gateway/http_post.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace scep::gateway {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on `fd` until `deadline`.
bool Wait(int fd, short events, absl::Time deadline) {
  int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
  if (ms <= 0) return false;
  pollfd p{fd, events, 0};
  return poll(&p, 1, ms) == 1;
}

absl::StatusOr<std::string> Exchange(const HttpUrl& url, const std::string& request,
                                     absl::Time deadline, absl::string_view peer) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat(peer, " host does not resolve"));
  }
  Socket sock(socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int rc = sock.fd() < 0 ? -1 : connect(sock.fd(), res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (!Wait(sock.fd(), POLLOUT, deadline) ||
      getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable or timed out"));
  }
  size_t sent = 0;
  while (sent < request.size()) {
    if (!Wait(sock.fd(), POLLOUT, deadline)) {
      return absl::UnavailableError(absl::StrCat(peer, " timed out"));
    }
    ssize_t n = send(sock.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[4096];
  for (;;) {
    if (!Wait(sock.fd(), POLLIN, deadline)) {
      return absl::UnavailableError(absl::StrCat(peer, " timed out"));
    }
    ssize_t n = recv(sock.fd(), buf, sizeof(buf), 0);
    if (n < 0) return absl::UnavailableError(absl::StrCat(peer, " read failed"));
    if (n == 0) break;
    response.append(buf, static_cast<size_t>(n));
    if (response.size() > kMaxResponse) {
      return absl::UnavailableError(absl::StrCat(peer, " answer too large"));
    }
  }
  return response;
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view setting) {
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::FailedPreconditionError(
        absl::StrCat(setting, " must be http://host[:port]/path"));
  }
  HttpUrl out;
  size_t slash = url.find('/');
  absl::string_view authority = url.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "/" : std::string(url.substr(slash));
  std::pair<std::string, std::string> hp = absl::StrSplit(authority, absl::MaxSplits(':', 1));
  out.host = hp.first;
  out.port = hp.second.empty() ? "80" : hp.second;
  if (out.host.empty()) return absl::FailedPreconditionError(absl::StrCat(setting, " has no host"));
  return out;
}

absl::StatusOr<HttpAnswer> PostJson(const HttpUrl& url, absl::string_view json,
                                    absl::Time deadline, absl::string_view peer) {
  const std::string http = absl::StrCat(
      "POST ", url.path, " HTTP/1.1\r\nHost: ", url.host,
      "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ",
      json.size(), "\r\n\r\n", json);
  absl::StatusOr<std::string> response = Exchange(url, http, deadline, peer);
  if (!response.ok()) return response.status();
  // "HTTP/1.1 200 OK\r\n...\r\n\r\n{...}"
  std::vector<absl::string_view> status_line =
      absl::StrSplit(absl::string_view(*response).substr(0, response->find("\r\n")), ' ');
  HttpAnswer answer;
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/") ||
      !absl::SimpleAtoi(status_line[1], &answer.status)) {
    return absl::UnavailableError(absl::StrCat(peer, " answered out of contract"));
  }
  size_t at = response->find("\r\n\r\n");
  if (at != std::string::npos) answer.body = response->substr(at + 4);
  return answer;
}

std::string JsonQuoted(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::BytesToHexString(std::string(1, c)));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace scep::gateway
