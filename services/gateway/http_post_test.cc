// The hooks' HTTP client against a small server run by the test: kept-alive
// connections reused, replaced when the server closed them, not kept when
// the answer says so, and shared by concurrent callers. (TLS:
// https_post_test.cc.)

#include "services/gateway/http_post.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/gateway/http_test_server.h"

namespace scep::gateway {
namespace {

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
  EXPECT_TRUE(absl::StrContains(head, absl::StrCat("\r\nHost: 127.0.0.1:", server.Url().port, "\r\n")))
      << head;
}

// The verifier's client serves every request thread: each POST on a
// connection of its own, at most one per concurrent caller, all kept.
TEST(KeptAliveHttpClientTest, ConcurrentCallersShareThePool) {
  TestServer server(Ok, Never);
  KeptAliveHttpClient client;
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto answer = client.Post(server.Url(), absl::StrCat("{\"t\":", t, ",\"i\":", i, "}"),
                                  Soon(), "verifier");
        if (answer.ok() && answer->status == 200) ++ok;
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(server.bodies().size(), 100u);
  EXPECT_GE(client.opened(), 1u);
  EXPECT_LE(client.opened(), 4u);  // never more than the callers at once
  EXPECT_EQ(server.accepted(), static_cast<int>(client.opened()));
}

// Idle connections the server closed are noticed before use: no POST
// fails on them, and none is sent twice.
TEST(KeptAliveHttpClientTest, IdleConnectionsTheServerClosedCostNoPost) {
  TestServer server(Ok, [](int n) { return n <= 2; });  // closes after 1 and 2
  KeptAliveHttpClient client;
  std::vector<std::thread> callers;
  absl::Mutex mu;
  absl::CondVar both;
  int arrived = 0;
  // Two POSTs at once leave two kept connections, both closed by the server.
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&] {
      {
        absl::MutexLock lock(&mu);
        ++arrived;
        while (arrived < 2) both.Wait(&mu);
        both.SignalAll();
      }
      EXPECT_TRUE(client.Post(server.Url(), "{}", Soon(), "verifier").ok());
    });
  }
  for (std::thread& c : callers) c.join();
  absl::SleepFor(absl::Milliseconds(100));  // the closes arrive
  auto answer = client.Post(server.Url(), "{}", Soon(), "verifier");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(server.bodies().size(), 3u);
  EXPECT_EQ(client.opened(), server.accepted());
}

TEST(ParseHttpUrlTest, SchemesPortsAndHosts) {
  auto plain = ParseHttpUrl("http://mdm.pki.svc/n", "url");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "mdm.pki.svc");
  EXPECT_EQ(plain->port, "80");
  EXPECT_EQ(plain->path, "/n");
  EXPECT_FALSE(plain->tls);
  auto tls = ParseHttpUrl("https://connector.example:8443", "url");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->port, "8443");
  EXPECT_EQ(tls->path, "/");
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(ParseHttpUrl("https://h/x", "url")->port, "443");
  auto v6 = ParseHttpUrl("https://[2001:db8::1]:9443/hook", "url");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(v6->port, "9443");
  for (const char* bad : {"ftp://h/x", "http://", "http://:80/x", "https://h:0/x",
                          "https://h:65536/x", "http://h:x/y", "https://[::1/x", "https://[::1]x/"}) {
    auto parsed = ParseHttpUrl(bad, "notify.url");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition) << bad;
    EXPECT_TRUE(absl::StartsWith(parsed.status().message(), "notify.url ")) << bad;
  }
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
