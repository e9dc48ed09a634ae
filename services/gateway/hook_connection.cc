// The hooks' connections (hook_connection.h): TCP, and TLS over it.

#include "services/gateway/hook_connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/tls_peer.h"

namespace scep::gateway {
namespace {

// Waits for `events` on `fd` until `deadline`.
bool Wait(int fd, short events, absl::Time deadline) {
  for (;;) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return false;
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    return rc == 1;
  }
}

}  // namespace

HookConnection::~HookConnection() {
  if (ssl_ != nullptr) {
    if (handshaken_) SSL_shutdown(ssl_);  // close_notify, best effort (non-blocking)
    SSL_free(ssl_);
    ERR_clear_error();
  }
  if (fd_ >= 0) close(fd_);
}

absl::Status HookConnection::Open(const HttpUrl& url, TlsClientContext* tls, absl::Time deadline,
                                  absl::string_view peer) {
  if (url.tls && tls == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(peer, ": https without TLS settings"));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat(peer, " host does not resolve"));
  }
  fd_ = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = fd_ < 0 ? -1 : connect(fd_, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (!Wait(fd_, POLLOUT, deadline) || getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
      err != 0) {
    return absl::UnavailableError(absl::StrCat(peer, " unreachable or timed out"));
  }
  // The request goes out in one write; answers may come in several
  // (headers, then the body: Python's http.server, among others) on a
  // server that leaves Nagle on, where each later part waits for the ACK
  // of the first that delayed ACK holds back for up to 40 ms.
  // NODELAY for our side, QUICKACK (again before each read: the kernel
  // drops it) so that our ACKs go at once.
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!url.tls) return absl::OkStatus();
  return Handshake(url.host, tls, deadline, peer);
}

absl::Status HookConnection::Send(absl::string_view data, absl::Time deadline,
                                  absl::string_view peer) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (ssl_ != nullptr) {
      crypto::ClearStaleSslErrors();
      size_t n = 0;
      if (SSL_write_ex(ssl_, data.data() + sent, data.size() - sent, &n) == 1) {
        sent += n;
        continue;
      }
      RETURN_IF_ERROR(WaitFor(SSL_get_error(ssl_, 0), deadline, peer, "closed the connection"));
      continue;
    }
    ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!Wait(fd_, POLLOUT, deadline)) {
        return absl::UnavailableError(absl::StrCat(peer, " timed out"));
      }
    } else {
      return absl::UnavailableError(absl::StrCat(peer, " closed the connection"));
    }
  }
  return absl::OkStatus();
}

// Bytes read into `buf`; 0 when the peer closed the connection.
absl::StatusOr<size_t> HookConnection::Read(char* buf, size_t size, absl::Time deadline,
                                            absl::string_view peer) {
  for (;;) {
    QuickAck();
    if (ssl_ != nullptr) {
      crypto::ClearStaleSslErrors();
      size_t n = 0;
      if (SSL_read_ex(ssl_, buf, size, &n) == 1) return n;
      const int error = SSL_get_error(ssl_, 0);
      if (error == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify
      RETURN_IF_ERROR(WaitFor(error, deadline, peer, "closed the connection"));
      continue;
    }
    ssize_t n = recv(fd_, buf, size, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(peer, " read failed"));
    }
    if (!Wait(fd_, POLLIN, deadline)) {
      return absl::UnavailableError(absl::StrCat(peer, " timed out"));
    }
  }
}

void HookConnection::QuickAck() const {
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

// An idle kept connection the peer closed (or sent anything unasked on)
// shows readable: it cannot carry another request.
bool HookConnection::ShowsClosed() const {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

absl::Status HookConnection::Handshake(const std::string& host, TlsClientContext* tls,
                                       absl::Time deadline, absl::string_view peer) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx = tls->Get();
  ssl_ = SSL_new(ctx.get());  // holds its own reference to ctx
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    return crypto::SslError(absl::StatusCode::kUnavailable, absl::StrCat(peer, " TLS set-up"));
  }
  if (absl::Status named = crypto::ExpectPeerName(ssl_, host); !named.ok()) {
    return absl::UnavailableError(absl::StrCat(peer, " TLS set-up: ", named.message()));
  }
  SSL_set_connect_state(ssl_);
  for (;;) {
    ERR_clear_error();
    if (SSL_do_handshake(ssl_) == 1) break;
    RETURN_IF_ERROR(WaitFor(SSL_get_error(ssl_, 0), deadline, peer, "TLS handshake failed"));
  }
  handshaken_ = true;
  return absl::OkStatus();
}

// After a TLS call returned `error`: waits for what it wants, or says
// why it failed ("<peer> <what>: <reason>").
absl::Status HookConnection::WaitFor(int error, absl::Time deadline, absl::string_view peer,
                                     absl::string_view what) {
  short events = 0;
  if (error == SSL_ERROR_WANT_READ) events = POLLIN;
  if (error == SSL_ERROR_WANT_WRITE) events = POLLOUT;
  if (events == 0) {
    // After the handshake: the receiver's alert, if it sent one (TLS 1.3
    // refuses a missing client certificate only then).
    std::string why = handshaken_ ? crypto::DrainSslErrors() : crypto::TlsFailure(ssl_);
    return absl::UnavailableError(absl::StrCat(peer, " ", what, why.empty() ? "" : ": ", why));
  }
  if (!Wait(fd_, events, deadline)) {
    ERR_clear_error();
    return absl::UnavailableError(absl::StrCat(peer, " timed out"));
  }
  return absl::OkStatus();
}

}  // namespace scep::gateway
