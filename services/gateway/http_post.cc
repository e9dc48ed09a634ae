#include "services/gateway/http_post.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"

namespace scep::gateway {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;
constexpr size_t kNoLength = SIZE_MAX;

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() { Reset(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

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

absl::Status Connect(const HttpUrl& url, absl::Time deadline, absl::string_view peer,
                     Socket* sock) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat(peer, " host does not resolve"));
  }
  sock->Reset(socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int rc = sock->fd() < 0 ? -1 : connect(sock->fd(), res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (!Wait(sock->fd(), POLLOUT, deadline) ||
      getsockopt(sock->fd(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable or timed out"));
  }
  return absl::OkStatus();
}

absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline,
                     absl::string_view peer) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (!Wait(fd, POLLOUT, deadline)) {
      return absl::UnavailableError(absl::StrCat(peer, " timed out"));
    }
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// What ReadAnswer learnt besides the answer.
struct Framing {
  bool got_bytes = false;  // the peer sent anything at all
  bool reusable = false;   // the connection can carry another request
};

// Reads one answer. Its end: Content-Length, else the peer closing. With
// `keep_alive` an answer of unknown length (chunked) ends with its header
// (its status is all a keep-alive caller reads) and the connection is not
// reused.
absl::StatusOr<HttpAnswer> ReadAnswer(int fd, absl::Time deadline, absl::string_view peer,
                                      bool keep_alive, Framing* framing) {
  std::string response;
  char buf[4096];
  size_t header_end = std::string::npos;
  // The answer's Content-Length; SIZE_MAX: none (ended by close, or chunked).
  size_t length = kNoLength;
  bool close_after = true;
  for (;;) {
    if (header_end != std::string::npos) {
      const size_t body = response.size() - header_end - 4;
      if (length != kNoLength && body >= length) break;
      if (length == kNoLength && keep_alive) {
        close_after = true;
        break;
      }
    }
    if (!Wait(fd, POLLIN, deadline)) {
      return absl::UnavailableError(absl::StrCat(peer, " timed out"));
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) return absl::UnavailableError(absl::StrCat(peer, " read failed"));
    if (n == 0) {
      close_after = true;
      if (header_end != std::string::npos && length == kNoLength) break;  // ended by close
      return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
    }
    framing->got_bytes = true;
    response.append(buf, static_cast<size_t>(n));
    if (response.size() > kMaxResponse) {
      return absl::UnavailableError(absl::StrCat(peer, " answer too large"));
    }
    if (header_end == std::string::npos &&
        (header_end = response.find("\r\n\r\n")) != std::string::npos) {
      const bool http11 = absl::StartsWith(response, "HTTP/1.1 ");
      close_after = !http11;
      for (absl::string_view line :
           absl::StrSplit(absl::string_view(response).substr(0, header_end), "\r\n")) {
        std::pair<absl::string_view, absl::string_view> kv =
            absl::StrSplit(line, absl::MaxSplits(':', 1));
        absl::string_view value = absl::StripAsciiWhitespace(kv.second);
        if (absl::EqualsIgnoreCase(kv.first, "Content-Length")) {
          size_t n_length = 0;
          if (!absl::SimpleAtoi(value, &n_length) || n_length == kNoLength) {
            return absl::UnavailableError(absl::StrCat(peer, " answered out of contract"));
          }
          length = n_length;
        } else if (absl::EqualsIgnoreCase(kv.first, "Connection")) {
          if (absl::EqualsIgnoreCase(value, "close")) close_after = true;
          if (absl::EqualsIgnoreCase(value, "keep-alive")) close_after = false;
        } else if (absl::EqualsIgnoreCase(kv.first, "Transfer-Encoding")) {
          length = kNoLength;  // chunked: its length is not Content-Length's
        }
      }
    }
  }
  framing->reusable = keep_alive && !close_after;
  // "HTTP/1.1 200 OK\r\n...\r\n\r\n{...}"
  std::vector<absl::string_view> status_line =
      absl::StrSplit(absl::string_view(response).substr(0, response.find("\r\n")), ' ');
  HttpAnswer answer;
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/") ||
      !absl::SimpleAtoi(status_line[1], &answer.status)) {
    framing->reusable = false;
    return absl::UnavailableError(absl::StrCat(peer, " answered out of contract"));
  }
  if (header_end != std::string::npos) {
    answer.body = response.substr(header_end + 4);
    if (length != kNoLength && answer.body.size() > length) {
      framing->reusable = false;  // more than it announced: do not trust the rest
      answer.body.resize(length);
    }
  }
  return answer;
}

std::string PostRequest(const HttpUrl& url, absl::string_view json, bool keep_alive,
                        absl::string_view extra_headers) {
  return absl::StrCat("POST ", url.path, " HTTP/1.1\r\nHost: ", url.host,
                      "\r\nContent-Type: application/json\r\nConnection: ",
                      keep_alive ? "keep-alive" : "close", "\r\n", extra_headers,
                      "Content-Length: ", json.size(), "\r\n\r\n", json);
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
  Socket sock;
  RETURN_IF_ERROR(Connect(url, deadline, peer, &sock));
  RETURN_IF_ERROR(SendAll(sock.fd(), PostRequest(url, json, false, ""), deadline, peer));
  Framing framing;
  return ReadAnswer(sock.fd(), deadline, peer, false, &framing);
}

struct KeptAliveHttpClient::Connection {
  Socket sock;
};

KeptAliveHttpClient::KeptAliveHttpClient() = default;
KeptAliveHttpClient::~KeptAliveHttpClient() = default;

absl::StatusOr<HttpAnswer> KeptAliveHttpClient::Post(const HttpUrl& url, absl::string_view json,
                                                     absl::Time deadline, absl::string_view peer,
                                                     absl::string_view extra_headers) {
  const std::string request = PostRequest(url, json, true, extra_headers);
  std::unique_ptr<Connection>& kept = connections_[absl::StrCat(url.host, ":", url.port)];
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = kept != nullptr;
    if (!reused) {
      auto fresh = std::make_unique<Connection>();
      RETURN_IF_ERROR(Connect(url, deadline, peer, &fresh->sock));
      kept = std::move(fresh);
      ++opened_;
    }
    Framing framing;
    absl::Status sent = SendAll(kept->sock.fd(), request, deadline, peer);
    absl::StatusOr<HttpAnswer> answer =
        sent.ok() ? ReadAnswer(kept->sock.fd(), deadline, peer, true, &framing)
                  : absl::StatusOr<HttpAnswer>(sent);
    if (!answer.ok() || !framing.reusable) kept.reset();
    // A kept connection the peer had closed meanwhile (its idle timeout)
    // fails before any answer: once more on a new one, while time is left.
    if (!answer.ok() && reused && !framing.got_bytes && absl::Now() < deadline) continue;
    return answer;
  }
  return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
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
