// The hooks' HTTP client against a small server run by the test: kept-alive
// connections reused, replaced when the server closed them, and not kept
// when the answer says so.

#include "services/gateway/http_post.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

// Answers each request with answer(n) (n counts requests over all
// connections); closes the connection after it when close_after(n).
class TestServer {
 public:
  TestServer(std::function<std::string(int)> answer, std::function<bool(int)> close_after)
      : answer_(std::move(answer)), close_after_(std::move(close_after)) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(listener_, 8), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TestServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }

  HttpUrl Url() const { return {"127.0.0.1", absl::StrCat(port_), "/notices"}; }
  int accepted() const { return accepted_.load(); }
  std::vector<std::string> bodies() {
    absl::MutexLock lock(&mu_);
    return bodies_;
  }
  std::vector<std::string> heads() {
    absl::MutexLock lock(&mu_);
    return heads_;
  }

 private:
  void Serve() {
    for (;;) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted_;
      ServeConnection(fd);
      close(fd);
    }
  }

  void ServeConnection(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
      }
      size_t length = 0;
      const size_t at = in.find("Content-Length: ");
      if (at == std::string::npos ||
          !absl::SimpleAtoi(in.substr(at + 16, in.find("\r\n", at) - at - 16), &length)) {
        return;
      }
      while (in.size() < end + 4 + length) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) return;
        in.append(buf, static_cast<size_t>(n));
      }
      const bool client_closes = absl::StrContains(in.substr(0, end), "Connection: close");
      int n;
      {
        absl::MutexLock lock(&mu_);
        bodies_.push_back(in.substr(end + 4, length));
        heads_.push_back(in.substr(0, end + 2));
        n = static_cast<int>(bodies_.size());
      }
      in.erase(0, end + 4 + length);
      const std::string out = answer_(n);
      send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (client_closes || close_after_(n)) return;
    }
  }

  std::function<std::string(int)> answer_;
  std::function<bool(int)> close_after_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> heads_ ABSL_GUARDED_BY(mu_);
};

std::string Ok(int) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; }
bool Never(int) { return false; }

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST(KeptAliveHttpClientTest, OneConnectionCarriesEveryPost) {
  TestServer server(Ok, Never);
  KeptAliveHttpClient client;
  for (int i = 0; i < 5; ++i) {
    auto answer = client.Post(server.Url(), absl::StrCat("{\"n\":", i, "}"), Soon(), "receiver");
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "ok");
  }
  EXPECT_EQ(client.opened(), 1u);
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.bodies().size(), 5u);
  EXPECT_EQ(server.bodies()[4], "{\"n\":4}");
}

// The server's idle timeout closed the kept connection between two POSTs:
// the next one goes out again on a new connection, once.
TEST(KeptAliveHttpClientTest, AConnectionTheServerClosedIsReplaced) {
  TestServer server(Ok, [](int n) { return n % 2 == 1; });  // closes silently after 1, 3
  KeptAliveHttpClient client;
  for (int i = 0; i < 4; ++i) {
    auto answer = client.Post(server.Url(), "{}", Soon(), "receiver");
    ASSERT_TRUE(answer.ok()) << i << ": " << answer.status();
    EXPECT_EQ(answer->status, 200);
  }
  EXPECT_EQ(server.bodies().size(), 4u);  // each POST delivered once
  // 1 on the first connection; 2 after the closed one failed, on a second,
  // which carries 3; 4 on a third.
  EXPECT_EQ(server.accepted(), 3);
  EXPECT_EQ(client.opened(), 3u);
}

TEST(KeptAliveHttpClientTest, AnswersThatEndTheConnectionAreNotKept) {
  const std::vector<std::string> answers = {
      "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
  };
  // The server ends each connection but the last one's as its answer says.
  TestServer server([&](int n) { return answers[static_cast<size_t>(n - 1) % 4]; },
                    [](int n) { return n <= 3; });
  KeptAliveHttpClient client;
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    auto answer = client.Post(server.Url(), "{}", Soon(), "receiver");
    ASSERT_TRUE(answer.ok()) << i << ": " << answer.status();
    statuses.push_back(answer->status);
  }
  EXPECT_EQ(statuses, (std::vector<int>{503, 200, 200, 201}));
  EXPECT_EQ(client.opened(), 4u);
  EXPECT_EQ(server.bodies().size(), 4u);
}

TEST(KeptAliveHttpClientTest, NothingListeningOrNoAnswerIsUnavailable) {
  KeptAliveHttpClient client;
  HttpUrl nowhere{"127.0.0.1", "1", "/"};
  EXPECT_EQ(client.Post(nowhere, "{}", Soon(), "receiver").status().code(),
            absl::StatusCode::kUnavailable);
  TestServer silent([](int) { return std::string(); }, Never);  // reads, never answers
  auto answer = client.Post(silent.Url(), "{}", absl::Now() + absl::Milliseconds(200), "receiver");
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(answer.status().message(), "receiver timed out"))
      << answer.status();
  EXPECT_EQ(silent.bodies().size(), 1u);  // not sent twice: the deadline had passed
}

TEST(KeptAliveHttpClientTest, ExtraHeadersGoWithTheRequest) {
  TestServer server(Ok, Never);
  KeptAliveHttpClient client;
  ASSERT_TRUE(client.Post(server.Url(), "{}", Soon(), "receiver", "X-Scep-Signature-256: sha256=ab\r\n")
                  .ok());
  ASSERT_EQ(server.heads().size(), 1u);
  const std::string head = server.heads()[0];
  EXPECT_TRUE(absl::StartsWith(head, "POST /notices HTTP/1.1\r\n")) << head;
  EXPECT_TRUE(absl::StrContains(head, "\r\nX-Scep-Signature-256: sha256=ab\r\n")) << head;
  EXPECT_TRUE(absl::StrContains(head, "\r\nContent-Length: 2\r\n")) << head;
  EXPECT_TRUE(absl::StrContains(head, "\r\nConnection: keep-alive\r\n")) << head;
}

TEST(PostJsonTest, OneConnectionPerPost) {
  TestServer server(Ok, Never);
  for (int i = 0; i < 2; ++i) {
    auto answer = PostJson(server.Url(), "{}", Soon(), "verifier");
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->body, "ok");
  }
  EXPECT_EQ(server.accepted(), 2);
}

}  // namespace
}  // namespace scep::gateway
