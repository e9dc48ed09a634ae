#include "services/gateway/http_post.h"

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
#include "services/gateway/hook_connection.h"

namespace scep::gateway {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;
constexpr size_t kNoLength = SIZE_MAX;

// What ReadAnswer learnt besides the answer.
struct Framing {
  bool got_bytes = false;  // the peer sent anything at all
  bool reusable = false;   // the connection can carry another request
};

// Reads one answer. Its end: Content-Length, else the peer closing. With
// `keep_alive` an answer of unknown length (chunked) ends with its header
// (its status is all a keep-alive caller reads) and the connection is not
// reused.
absl::StatusOr<HttpAnswer> ReadAnswer(HookConnection& conn, absl::Time deadline,
                                      absl::string_view peer, bool keep_alive,
                                      Framing* framing) {
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
    absl::StatusOr<size_t> n = conn.Read(buf, sizeof(buf), deadline, peer);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      close_after = true;
      if (header_end != std::string::npos && length == kNoLength) break;  // ended by close
      return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
    }
    framing->got_bytes = true;
    response.append(buf, *n);
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

// The Host header: the URL's authority (RFC 9110 7.2), the port only when
// it is not the scheme's default.
std::string HostHeader(const HttpUrl& url) {
  std::string host = absl::StrContains(url.host, ':') ? absl::StrCat("[", url.host, "]") : url.host;
  if (url.port != (url.tls ? "443" : "80")) absl::StrAppend(&host, ":", url.port);
  return host;
}

std::string PostRequest(const HttpUrl& url, absl::string_view json, bool keep_alive,
                        absl::string_view extra_headers) {
  return absl::StrCat("POST ", url.path, " HTTP/1.1\r\nHost: ", HostHeader(url),
                      "\r\nContent-Type: application/json\r\nConnection: ",
                      keep_alive ? "keep-alive" : "close", "\r\n", extra_headers,
                      "Content-Length: ", json.size(), "\r\n\r\n", json);
}

}  // namespace

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view setting) {
  HttpUrl out;
  if (absl::ConsumePrefix(&url, "https://")) {
    out.tls = true;
  } else if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::FailedPreconditionError(
        absl::StrCat(setting, " must be http[s]://host[:port]/path"));
  }
  size_t slash = url.find('/');
  absl::string_view authority = url.substr(0, slash);
  out.path = slash == absl::string_view::npos ? "/" : std::string(url.substr(slash));
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {  // [2001:db8::1]:8443
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::FailedPreconditionError(absl::StrCat(setting, " has an unclosed [ in its host"));
    }
    out.host = std::string(authority.substr(0, close));
    absl::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !absl::ConsumePrefix(&rest, ":")) {
      return absl::FailedPreconditionError(absl::StrCat(setting, " has junk after its host"));
    }
    port = rest;
  } else {
    std::pair<absl::string_view, absl::string_view> hp =
        absl::StrSplit(authority, absl::MaxSplits(':', 1));
    out.host = std::string(hp.first);
    port = hp.second;
  }
  if (out.host.empty()) return absl::FailedPreconditionError(absl::StrCat(setting, " has no host"));
  int port_number = 0;
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535)) {
    return absl::FailedPreconditionError(absl::StrCat(setting, " has a bad port"));
  }
  out.port = port.empty() ? (out.tls ? "443" : "80") : std::string(port);
  return out;
}

absl::StatusOr<HttpAnswer> PostJson(const HttpUrl& url, absl::string_view json,
                                    absl::Time deadline, absl::string_view peer,
                                    TlsClientContext* tls) {
  HookConnection conn;
  RETURN_IF_ERROR(conn.Open(url, tls, deadline, peer));
  RETURN_IF_ERROR(conn.Send(PostRequest(url, json, false, ""), deadline, peer));
  Framing framing;
  return ReadAnswer(conn, deadline, peer, false, &framing);
}

KeptAliveHttpClient::KeptAliveHttpClient(size_t max_idle) : max_idle_(max_idle) {}
KeptAliveHttpClient::~KeptAliveHttpClient() = default;

size_t KeptAliveHttpClient::opened() const {
  absl::MutexLock lock(&mu_);
  return opened_;
}

std::unique_ptr<HookConnection> KeptAliveHttpClient::TakeIdle(const std::string& key) {
  std::vector<std::unique_ptr<HookConnection>> closed;  // closed outside the lock
  absl::MutexLock lock(&mu_);
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  std::unique_ptr<HookConnection> out;
  // The most recently used first: the likeliest to be open still.
  while (out == nullptr && !it->second.empty()) {
    std::unique_ptr<HookConnection> c = std::move(it->second.back());
    it->second.pop_back();
    if (c->ShowsClosed()) {
      closed.push_back(std::move(c));
    } else {
      out = std::move(c);
    }
  }
  return out;
}

void KeptAliveHttpClient::KeepIdle(const std::string& key,
                                   std::unique_ptr<HookConnection> connection) {
  absl::MutexLock lock(&mu_);
  std::vector<std::unique_ptr<HookConnection>>& idle = idle_[key];
  if (idle.size() < max_idle_) idle.push_back(std::move(connection));
}

void KeptAliveHttpClient::DropIdle(const std::string& key) {
  std::vector<std::unique_ptr<HookConnection>> dropped;
  absl::MutexLock lock(&mu_);
  if (auto it = idle_.find(key); it != idle_.end()) dropped.swap(it->second);
}

absl::StatusOr<HttpAnswer> KeptAliveHttpClient::Post(const HttpUrl& url, absl::string_view json,
                                                     absl::Time deadline, absl::string_view peer,
                                                     absl::string_view extra_headers,
                                                     TlsClientContext* tls) {
  const std::string request = PostRequest(url, json, true, extra_headers);
  // Connections with other TLS settings (another client certificate) to
  // the same receiver are not interchangeable.
  const std::string key =
      url.tls ? absl::StrCat("https://", url.host, ":", url.port, "#",
                             reinterpret_cast<uintptr_t>(tls))
              : absl::StrCat("http://", url.host, ":", url.port);
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<HookConnection> conn = attempt == 0 ? TakeIdle(key) : nullptr;
    const bool reused = conn != nullptr;
    if (!reused) {
      conn = std::make_unique<HookConnection>();
      {
        absl::MutexLock lock(&mu_);
        ++opened_;
      }
      RETURN_IF_ERROR(conn->Open(url, tls, deadline, peer));
    }
    Framing framing;
    absl::Status sent = conn->Send(request, deadline, peer);
    absl::StatusOr<HttpAnswer> answer =
        sent.ok() ? ReadAnswer(*conn, deadline, peer, true, &framing)
                  : absl::StatusOr<HttpAnswer>(sent);
    if (answer.ok() && framing.reusable) KeepIdle(key, std::move(conn));
    // A kept connection the peer had closed meanwhile (its idle timeout)
    // fails before any answer: once more on a new one, while time is left.
    // The others kept for this peer idled as long: let them go too.
    if (!answer.ok() && reused && !framing.got_bytes && absl::Now() < deadline) {
      DropIdle(key);
      continue;
    }
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
