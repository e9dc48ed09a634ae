#include "bench/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/status_macros.h"

namespace scep::bench {
namespace {

constexpr size_t kMaxBody = 16 << 20;

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url) {
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError("only http:// URLs are supported");
  }
  HttpUrl out;
  size_t slash = url.find('/');
  absl::string_view authority = url.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "/" : std::string(url.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos) {
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &out.port) ||
        out.port <= 0 || out.port > 65535) {
      return absl::InvalidArgumentError("bad port in URL");
    }
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return absl::InvalidArgumentError("URL has no host");
  out.host = std::string(authority);
  return out;
}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
  pos_ = 0;
}

absl::Status HttpConnection::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = absl::StrCat(url_.port);
  if (int rc = getaddrinfo(url_.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", url_.host, ": ",
                                               gai_strerror(rc)));
  }
  absl::Status status = absl::UnavailableError("no address");
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      timeval tv{60, 0};  // a stuck server ends the run instead of hanging it
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      fd_ = fd;
      ++connects_;
      status = absl::OkStatus();
      break;
    }
    status = Errno("connect");
    ::close(fd);
  }
  freeaddrinfo(res);
  return status;
}

absl::Status HttpConnection::SendAll(absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("send");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status HttpConnection::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char tmp[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("recv");
    if (n == 0) return absl::UnavailableError("connection closed by server");
    buf_.append(tmp, static_cast<size_t>(n));
    return absl::OkStatus();
  }
}

absl::StatusOr<std::string> HttpConnection::ReadLine() {
  for (;;) {
    size_t eol = buf_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      std::string line = buf_.substr(pos_, eol - pos_);
      pos_ = eol + 2;
      return line;
    }
    if (buf_.size() - pos_ > 65536) {
      return absl::InvalidArgumentError("response line too long");
    }
    RETURN_IF_ERROR(Fill());
  }
}

absl::Status HttpConnection::ReadExactly(size_t n, std::string& out) {
  while (buf_.size() - pos_ < n) RETURN_IF_ERROR(Fill());
  out.append(buf_, pos_, n);
  pos_ += n;
  return absl::OkStatus();
}

absl::Status HttpConnection::ReadChunked(std::string& out) {
  for (;;) {
    ASSIGN_OR_RETURN(std::string line, ReadLine());
    absl::string_view size_hex = line.substr(0, line.find(';'));
    size_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_hex), &size) ||
        out.size() + size > kMaxBody) {
      return absl::InvalidArgumentError("bad chunk size");
    }
    if (size == 0) {
      // Trailers end with an empty line.
      for (;;) {
        ASSIGN_OR_RETURN(std::string trailer, ReadLine());
        if (trailer.empty()) return absl::OkStatus();
      }
    }
    RETURN_IF_ERROR(ReadExactly(size, out));
    ASSIGN_OR_RETURN(std::string crlf, ReadLine());
    if (!crlf.empty()) return absl::InvalidArgumentError("bad chunk end");
  }
}

absl::StatusOr<HttpResponse> HttpConnection::RoundTrip(
    absl::string_view method, absl::string_view target, absl::string_view body,
    absl::string_view content_type) {
  if (fd_ >= 0 && pos_ == buf_.size()) {
    // A server that closed an idle keep-alive connection shows EOF here;
    // reconnect rather than lose the request.
    char probe;
    ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) Close();
  }
  if (fd_ < 0) RETURN_IF_ERROR(Connect());
  std::string head = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: ",
                                  url_.host, ":", url_.port, "\r\n");
  if (method != "GET" || !body.empty()) {
    absl::StrAppend(&head, "Content-Type: ", content_type,
                    "\r\nContent-Length: ", body.size(), "\r\n");
  }
  head += "\r\n";
  absl::StatusOr<HttpResponse> result = [&]() -> absl::StatusOr<HttpResponse> {
    RETURN_IF_ERROR(SendAll(absl::StrCat(head, body)));
    HttpResponse resp;
    ASSIGN_OR_RETURN(std::string status_line, ReadLine());
    std::vector<absl::string_view> parts =
        absl::StrSplit(status_line, absl::MaxSplits(' ', 2));
    if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
        !absl::SimpleAtoi(parts[1], &resp.status)) {
      return absl::InvalidArgumentError("bad status line");
    }
    bool chunked = false, close = parts[0] == "HTTP/1.0";
    size_t length = 0;
    bool has_length = false;
    for (;;) {
      ASSIGN_OR_RETURN(std::string line, ReadLine());
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      if (name == "content-length") {
        if (!absl::SimpleAtoi(value, &length) || length > kMaxBody) {
          return absl::InvalidArgumentError("bad Content-Length");
        }
        has_length = true;
      } else if (name == "transfer-encoding") {
        chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
      } else if (name == "connection") {
        if (absl::EqualsIgnoreCase(value, "close")) close = true;
      } else if (name == "content-type") {
        resp.content_type = value;
      } else if (name == "retry-after") {
        int seconds = -1;
        if (absl::SimpleAtoi(value, &seconds) && seconds >= 0) resp.retry_after = seconds;
      }
    }
    if (chunked) {
      RETURN_IF_ERROR(ReadChunked(resp.body));
    } else if (has_length) {
      RETURN_IF_ERROR(ReadExactly(length, resp.body));
    } else if (resp.status != 204 && resp.status != 304) {
      // Body delimited by EOF.
      for (;;) {
        absl::Status s = Fill();
        if (!s.ok()) break;
      }
      resp.body = buf_.substr(pos_);
      close = true;
    }
    if (close) Close();
    return resp;
  }();
  if (!result.ok()) Close();
  return result;
}

}  // namespace scep::bench
