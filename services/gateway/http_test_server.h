#ifndef SCEP_SERVICES_GATEWAY_HTTP_TEST_SERVER_H_
#define SCEP_SERVICES_GATEWAY_HTTP_TEST_SERVER_H_

// Test support: a small HTTP/1.1 server for the hooks' client tests, over
// plain TCP or TLS, each connection served on a thread of its own.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "services/gateway/http_post.h"

namespace scep::gateway {

// Answers each request with answer(n) (n counts requests over all
// connections); closes the connection after it when close_after(n). With
// `tls` (a server SSL_CTX, owned by the caller) every connection is TLS.
class TestServer {
 public:
  TestServer(std::function<std::string(int)> answer, std::function<bool(int)> close_after,
             SSL_CTX* tls = nullptr)
      : answer_(std::move(answer)), close_after_(std::move(close_after)), tls_(tls) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(listener_, 64), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
    std::vector<std::thread> connections;
    {
      absl::MutexLock lock(&mu_);
      for (int fd : open_) shutdown(fd, SHUT_RDWR);
      connections.swap(connections_);
    }
    for (std::thread& t : connections) t.join();
  }

  HttpUrl Url(const std::string& host = "127.0.0.1") const {
    return {host, absl::StrCat(port_), "/notices", tls_ != nullptr};
  }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> bodies() {
    absl::MutexLock lock(&mu_);
    return bodies_;
  }
  std::vector<std::string> heads() {
    absl::MutexLock lock(&mu_);
    return heads_;
  }
  // TLS: the subject CN of each client certificate presented ("" = none),
  // and the handshakes that failed.
  std::vector<std::string> client_names() {
    absl::MutexLock lock(&mu_);
    return client_names_;
  }
  int failed_handshakes() const { return failed_handshakes_.load(); }

 private:
  void Serve() {
    for (;;) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted_;
      absl::MutexLock lock(&mu_);
      open_.push_back(fd);
      connections_.emplace_back([this, fd] {
        ServeConnection(fd);
        absl::MutexLock lock(&mu_);
        open_.erase(std::find(open_.begin(), open_.end(), fd));
        close(fd);
      });
    }
  }

  void ServeConnection(int fd) {
    SSL* ssl = nullptr;
    if (tls_ != nullptr) {
      ssl = SSL_new(tls_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) != 1) {
        ++failed_handshakes_;
        SSL_free(ssl);
        // A lingering close, as nginx and others do: closing with the
        // client's request unread would reset the connection, and the
        // client could lose the alert saying why before reading it.
        shutdown(fd, SHUT_WR);
        timeval wait{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        char sink[4096];
        while (recv(fd, sink, sizeof(sink), 0) > 0) {
        }
        return;
      }
      X509* peer = SSL_get0_peer_certificate(ssl);
      char cn[256] = "";
      if (peer != nullptr) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      }
      absl::MutexLock lock(&mu_);
      client_names_.push_back(cn);
    }
    auto recv_some = [&](char* buf, size_t size) -> ssize_t {
      if (ssl == nullptr) return recv(fd, buf, size, 0);
      size_t n = 0;
      return SSL_read_ex(ssl, buf, size, &n) == 1 ? static_cast<ssize_t>(n) : 0;
    };
    auto send_all = [&](const std::string& out) {
      if (ssl == nullptr) {
        send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      } else if (!out.empty()) {
        size_t n = 0;
        SSL_write_ex(ssl, out.data(), out.size(), &n);
      }
    };
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv_some(buf, sizeof(buf));
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      if (end == std::string::npos) break;
      size_t length = 0;
      const size_t at = in.find("Content-Length: ");
      if (at == std::string::npos ||
          !absl::SimpleAtoi(in.substr(at + 16, in.find("\r\n", at) - at - 16), &length)) {
        break;
      }
      bool complete = true;
      while (in.size() < end + 4 + length) {
        ssize_t n = recv_some(buf, sizeof(buf));
        if (n <= 0) {
          complete = false;
          break;
        }
        in.append(buf, static_cast<size_t>(n));
      }
      if (!complete) break;
      const bool client_closes = absl::StrContains(in.substr(0, end), "Connection: close");
      int n;
      {
        absl::MutexLock lock(&mu_);
        bodies_.push_back(in.substr(end + 4, length));
        heads_.push_back(in.substr(0, end + 2));
        n = static_cast<int>(bodies_.size());
      }
      in.erase(0, end + 4 + length);
      send_all(answer_(n));
      if (client_closes || close_after_(n)) break;
    }
    if (ssl != nullptr) SSL_free(ssl);  // no close_notify: as many servers do
  }

  std::function<std::string(int)> answer_;
  std::function<bool(int)> close_after_;
  SSL_CTX* const tls_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> failed_handshakes_{0};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<int> open_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> client_names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_TEST_SERVER_H_
