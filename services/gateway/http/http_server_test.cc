#include "services/gateway/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/gateway/http/test_http_client.h"

namespace scep::gateway {
namespace {

using test::RawClient;
using test::RawResponse;

// Echoes the request; a few paths change behaviour for specific tests.
HttpResponse Echo(HttpRequest request) {
  if (request.path == "/throw") throw std::runtime_error("handler bug");
  if (request.path == "/slow") absl::SleepFor(absl::Milliseconds(200));
  if (request.path == "/first") absl::SleepFor(absl::Milliseconds(50));
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = absl::StrCat(request.method, " ", request.path, " ",
                               request.raw_query, " ", request.body);
  response.headers.emplace_back("X-Remote", request.remote_address);
  response.headers.emplace_back("X-Content-Type", request.content_type);
  response.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x=1");
  if (request.path == "/retry") {
    response.status = 503;
    response.headers.emplace_back("Retry-After", "7");
  }
  if (request.path == "/bad-status") response.status = 42;
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {},
                   HttpHandler handler = Echo) {
    options.port = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::New(std::move(options), std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->Start();
  }

  std::unique_ptr<RawClient> Connect() {
    std::unique_ptr<RawClient> client = RawClient::Connect(server_->port());
    EXPECT_NE(client, nullptr);
    return client;
  }

  std::unique_ptr<HttpServer> server_;
};

std::string Get(absl::string_view target, absl::string_view extra = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\n", extra,
                      "\r\n");
}

TEST_F(HttpServerTest, GetRoundTrip) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      Get("/scep/pkiclient.exe?operation=GetCACaps&message=a%3D")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body,
            "GET /scep/pkiclient.exe operation=GetCACaps&message=a%3D ");
  EXPECT_EQ(response->Header("Content-Type"), "text/plain");
  EXPECT_EQ(response->Header("Content-Length"),
            std::to_string(response->body.size()));
  EXPECT_EQ(response->Header("Server"), "scep-gateway");
  EXPECT_TRUE(absl::StartsWith(*response->Header("X-Remote"), "127.0.0.1:"));
  EXPECT_EQ(response->Header("X-Evil"), std::nullopt);
  EXPECT_EQ(response->Header("Set-Cookie"), std::nullopt);
}

TEST_F(HttpServerTest, PostRoundTripWithBinaryBody) {
  StartServer();
  auto client = Connect();
  const std::string body("\x30\x82\0\x01pkcs7", 9);
  ASSERT_TRUE(client->Send(absl::StrCat(
      "POST /scep/pkiclient.exe?operation=PKIOperation HTTP/1.1\r\n"
      "Host: x\r\nContent-Type: application/x-pki-message\r\n"
      "Content-Length: ", body.size(), "\r\n\r\n", body)));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body,
            absl::StrCat("POST /scep/pkiclient.exe operation=PKIOperation ",
                         body));
  EXPECT_EQ(response->Header("X-Content-Type"), "application/x-pki-message");
}

TEST_F(HttpServerTest, PathIsPercentDecodedQueryIsNot) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/a%20b+c?x=%41+")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /a b+c x=%41+ ");
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  auto client = Connect();
  for (const char* path : {"/one", "/two"}) {
    ASSERT_TRUE(client->Send(Get(path)));
    std::optional<RawResponse> response = client->ReadResponse();
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->body, absl::StrCat("GET ", path, "  "));
    EXPECT_NE(response->Header("Connection"), "close");
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  StartServer();
  auto client = Connect();
  // The first is the slowest: answers must still come back in order.
  ASSERT_TRUE(client->Send(
      absl::StrCat(Get("/first"), Get("/second"), Get("/third"))));
  for (const char* path : {"/first", "/second", "/third"}) {
    std::optional<RawResponse> response = client->ReadResponse();
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->body, absl::StrCat("GET ", path, "  "));
  }
}

TEST_F(HttpServerTest, OversizedBodyIs413AndCloses) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"));
  client->Send(std::string(5000, 'x'));  // the server may already be gone
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, OversizedChunkedBodyIs413) {
  HttpServerOptions options;
  options.max_body_bytes = 16;
  StartServer(options);
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n"));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

// Peak resident memory of this process since ResetPeakRss(), in bytes.
void ResetPeakRss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}
long PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmHWM:")) return std::stol(line.substr(6)) * 1024;
  }
  return -1;
}

TEST_F(HttpServerTest, ChunkedBodyWithinLimitIsServed) {
  StartServer();  // a body as large as the limit, past the read buffer
  auto client = Connect();
  const std::string big(40 * 1024, 'p');
  ASSERT_TRUE(client->Send(absl::StrCat(
      "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n3;ext=1\r\nabc\r\n",
      absl::Hex(big.size()), "\r\n", big, "\r\n0\r\nX-Trailer: t\r\n\r\n")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body,
            absl::StrCat("POST /scep operation=PKIOperation helloabc", big));
  ASSERT_TRUE(client->Send(Get("/after")));  // still in step
  response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /after  ");
}

// A chunk-size line (or trailer) is not covered by the header or body limit:
// it must not grow the read buffer without bound.
// A large body (a CRL with many revocations) reaches a client that reads
// it slowly, over more than read_timeout in all: the whole write had to
// end within read_timeout, and a relying party on a thin link got a
// cut-off CRL on every try. The body is shared, not copied per response.
TEST_F(HttpServerTest, SlowReaderGetsAWholeLargeSharedBody) {
  auto large = std::make_shared<const std::string>(4 << 20, 'c');
  HttpServerOptions options;
  options.read_timeout = absl::Milliseconds(400);
  StartServer(options, [large](HttpRequest) {
    HttpResponse r;
    r.shared_body = large;
    return r;
  });
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int small = 16 << 10;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server_->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  const std::string get = Get("/crl");
  ASSERT_EQ(send(fd, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  const timeval wait{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  std::string received;
  const absl::Time start = absl::Now();
  char chunk[64 << 10];
  for (;;) {
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<size_t>(n));
    const size_t header_end = received.find("\r\n\r\n");
    if (header_end != std::string::npos && received.size() - header_end - 4 >= large->size()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(15));  // about 4 MB/s
  }
  const absl::Duration took = absl::Now() - start;
  close(fd);
  const size_t header_end = received.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  EXPECT_TRUE(absl::StartsWith(received, "HTTP/1.1 200")) << received.substr(0, header_end);
  EXPECT_EQ(received.size() - header_end - 4, large->size());
  // It did outlast the read timeout (else this proves nothing).
  EXPECT_GT(took, options.read_timeout);
}

TEST_F(HttpServerTest, EndlessChunkLineIsRefusedWithBoundedMemory) {
  for (const char* start : {"1;a=", "0\r\nX-Trailer: "}) {
    // Answered at once, not when the read timeout ends the connection: the
    // client gives up long before that.
    HttpServerOptions options;
    options.read_timeout = absl::Seconds(60);
    StartServer(options);
    const std::string endless = absl::StrCat(start, std::string(16 << 20, 'a'));
    auto client = RawClient::Connect(server_->port(), absl::Seconds(20));
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->Send(
        "POST /scep?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"));
    ResetPeakRss();
    const long rss_before = PeakRssBytes();
    std::thread sender([&] { client->Send(endless); });
    std::optional<RawResponse> response = client->ReadResponse();
    const bool closed = client->WaitForClose(absl::Seconds(2));
    const long rss_growth = PeakRssBytes() - rss_before;
    server_->Shutdown();  // unblocks the sender whatever happened
    sender.join();
    ASSERT_TRUE(response) << start;
    EXPECT_TRUE(response->status == 413 || response->status == 431)
        << response->status;
    EXPECT_EQ(response->Header("Connection"), "close");
    EXPECT_TRUE(closed);
    EXPECT_LT(rss_growth, 8 << 20) << start;
  }
}

TEST_F(HttpServerTest, TransferEncodingNotEndingInChunkedIs400) {
  StartServer();
  for (const char* coding : {"gzip", "chunked, identity", "xchunked"}) {
    auto client = Connect();
    ASSERT_TRUE(client->Send(absl::StrCat(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ", coding,
        "\r\n\r\n", Get("/smuggled"))));
    std::optional<RawResponse> response = client->ReadResponse();
    ASSERT_TRUE(response) << coding;
    EXPECT_EQ(response->status, 400) << coding;
    EXPECT_EQ(response->Header("Connection"), "close") << coding;
    // The bytes after the header are never taken for a second request.
    EXPECT_TRUE(client->WaitForClose(absl::Seconds(3))) << coding;
  }
  // HTTP/1.0 has no chunked coding at all.
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

// Beast stores a field's length in 16 bits and throws past 65,535 bytes.
TEST_F(HttpServerTest, HeaderFieldOver64KiBIs431) {
  HttpServerOptions options;
  options.max_header_bytes = 256 * 1024;
  StartServer(options);
  auto fits = Connect();
  ASSERT_TRUE(fits->Send(
      Get("/", absl::StrCat("X-Big: ", std::string(60000, 'a'), "\r\n"))));
  std::optional<RawResponse> response = fits->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);

  auto client = Connect();
  ASSERT_TRUE(client->Send(
      Get("/", absl::StrCat("X-Big: ", std::string(70000, 'a'), "\r\n"))));
  response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  HttpServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(options);
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      Get("/", absl::StrCat("X-Big: ", std::string(2000, 'a'), "\r\n"))));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, GarbageIs400AndCloses) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send("\x16\x03\x01 this is not HTTP\r\n\r\n"));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, MalformedFramingIs400) {
  StartServer();
  for (const char* request :
       {"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/9.x\r\n\r\n", "GET / HTTP/1.1\r\nNo colon\r\n\r\n"}) {
    auto client = Connect();
    ASSERT_TRUE(client->Send(request));
    std::optional<RawResponse> response = client->ReadResponse();
    ASSERT_TRUE(response) << request;
    EXPECT_EQ(response->status, 400) << request;
  }
}

// The connection limit leaves kReservedFileDescriptors for the backends.
TEST(ConnectionsWithinFileLimitTest, KeepsRoomForBackends) {
  EXPECT_EQ(ConnectionsWithinFileLimit(10000, 1048576), 10000u);
  EXPECT_EQ(ConnectionsWithinFileLimit(10000, 1024), 1024u - kReservedFileDescriptors);
  EXPECT_EQ(ConnectionsWithinFileLimit(10000, 100), 1u);
  EXPECT_EQ(ConnectionsWithinFileLimit(300, 1024), 300u);
}

// RFC 9112 section 3.2: HTTP/1.1 needs one Host; no request may name two.
TEST_F(HttpServerTest, MissingOrRepeatedHostIs400) {
  StartServer();
  for (const char* request :
       {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"}) {
    auto client = Connect();
    ASSERT_TRUE(client->Send(request));
    std::optional<RawResponse> response = client->ReadResponse();
    ASSERT_TRUE(response) << request;
    EXPECT_EQ(response->status, 400) << request;
    EXPECT_TRUE(client->WaitForClose(absl::Seconds(3))) << request;
  }
  // HTTP/1.0 has no Host requirement (old routers' SCEP clients send none).
  auto client = Connect();
  ASSERT_TRUE(client->Send("GET /old HTTP/1.0\r\n\r\n"));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, BadEscapeInPathIs400) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/a%zz")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
}

// Draining: a kept-alive connection's next response closes it, so a
// balancer pinning that connection here sends its client elsewhere; new
// connections are still served, each closed after its response.
TEST_F(HttpServerTest, DrainingClosesKeptAliveConnectionsAfterTheirNextResponse) {
  StartServer();
  auto kept = Connect();
  ASSERT_TRUE(kept->Send(Get("/")));
  std::optional<RawResponse> response = kept->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Connection"), std::nullopt);  // HTTP/1.1: kept alive
  server_->BeginDrain();
  ASSERT_TRUE(kept->Send(Get("/")));
  response = kept->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(kept->WaitForClose(absl::Seconds(3)));
  auto fresh = Connect();
  ASSERT_TRUE(fresh->Send(Get("/")));
  response = fresh->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Connection"), "close");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/", "Connection: close\r\n")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(client->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveAsked) {
  StartServer();
  auto plain = Connect();
  ASSERT_TRUE(plain->Send("GET /old HTTP/1.0\r\n\r\n"));
  std::optional<RawResponse> response = plain->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->version, "HTTP/1.0");
  EXPECT_EQ(response->body, "GET /old  ");
  EXPECT_TRUE(plain->WaitForClose(absl::Seconds(3)));

  auto kept = Connect();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept->Send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    response = kept->ReadResponse();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->Header("Connection"), "keep-alive");
  }
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(
      "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 3\r\n\r\n"));
  std::optional<RawResponse> interim = client->ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client->Send("abc"));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /  abc");
}

TEST_F(HttpServerTest, HundredConcurrentClientsAllServed) {
  HttpServerOptions options;
  options.io_threads = 4;
  StartServer(options);
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([this, i, &served] {
      auto client = RawClient::Connect(server_->port());
      if (!client) return;
      const std::string path = absl::StrCat("/c", i);
      if (!client->Send(Get(path))) return;
      std::optional<RawResponse> response = client->ReadResponse();
      if (response && response->body == absl::StrCat("GET ", path, "  ")) {
        ++served;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(served.load(), 100);
}

TEST_F(HttpServerTest, HandlerStatusAndHeadersPassThrough) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/retry")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->Header("Retry-After"), "7");
  ASSERT_TRUE(client->Send(Get("/bad-status")));
  response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndConnectionSurvives) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/throw")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  ASSERT_TRUE(client->Send(Get("/after")));
  response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, ShutdownFinishesInFlightRequest) {
  std::atomic<bool> entered{false};
  StartServer({}, [&entered](HttpRequest request) {
    entered = true;
    return Echo(std::move(request));
  });
  auto idle = Connect();
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/slow")));
  while (!entered) absl::SleepFor(absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /slow  ");
  EXPECT_EQ(response->Header("Connection"), "close");
  EXPECT_TRUE(idle->WaitForClose(absl::Seconds(1)));
  EXPECT_EQ(RawClient::Connect(server_->port()), nullptr);
  server_->Shutdown();  // idempotent
}

TEST_F(HttpServerTest, IdleAndSlowClientsAreCutOff) {
  HttpServerOptions options;
  options.idle_timeout = absl::Milliseconds(200);
  options.read_timeout = absl::Milliseconds(300);
  StartServer(options);
  auto idle = Connect();
  EXPECT_TRUE(idle->WaitForClose(absl::Seconds(3)));
  auto slow = Connect();
  ASSERT_TRUE(slow->Send("GET / HTTP/1.1\r\nHo"));
  EXPECT_TRUE(slow->WaitForClose(absl::Seconds(3)));
}

TEST_F(HttpServerTest, ConnectionsOverLimitAreClosed) {
  HttpServerOptions options;
  options.max_connections = 1;
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  StartServer(options, [&](HttpRequest request) {
    entered = true;
    while (!release) absl::SleepFor(absl::Milliseconds(1));
    return Echo(std::move(request));
  });
  auto first = Connect();
  ASSERT_TRUE(first->Send(Get("/")));
  // Busy in the handler, so not idle: nothing can make room.
  while (!entered) absl::SleepFor(absl::Milliseconds(1));
  auto second = Connect();
  EXPECT_TRUE(second->WaitForClose(absl::Seconds(3)));
  release = true;
  std::optional<RawResponse> response = first->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, AtConnectionLimitTheOldestIdleMakesRoom) {
  HttpServerOptions options;
  options.max_connections = 3;
  StartServer(options);
  // Half a request: reading, not idle, never evicted.
  auto reading = Connect();
  ASSERT_TRUE(reading->Send("GET / HTTP/1.1\r\nHo"));
  auto oldest = Connect();
  ASSERT_TRUE(oldest->Send(Get("/")));
  ASSERT_TRUE(oldest->ReadResponse());  // registered, now idle
  absl::SleepFor(absl::Milliseconds(5));
  auto newer = Connect();
  ASSERT_TRUE(newer->Send(Get("/")));
  ASSERT_TRUE(newer->ReadResponse());

  auto newcomer = Connect();
  ASSERT_TRUE(newcomer->Send(Get("/new")));
  std::optional<RawResponse> response = newcomer->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(oldest->WaitForClose(absl::Seconds(3)));
  ASSERT_TRUE(reading->Send("st: x\r\n\r\n"));
  response = reading->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  ASSERT_TRUE(newer->Send(Get("/still")));
  response = newer->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /still  ");
}

TEST_F(HttpServerTest, IdleConnectionsNeverLockOutNewClients) {
  HttpServerOptions options;
  options.max_connections = 8;
  StartServer(options);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(Connect());
  auto client = Connect();
  ASSERT_TRUE(client->Send(Get("/healthz")));
  std::optional<RawResponse> response = client->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// A handler whose "/block" requests wait until Release(), like requests
// waiting on a stalled signer.
class BlockingHandler {
 public:
  HttpResponse operator()(HttpRequest request) {
    if (request.path == "/block") {
      ++blocked_;
      while (!released_) absl::SleepFor(absl::Milliseconds(1));
    }
    return Echo(std::move(request));
  }
  void WaitForBlocked(int n) {
    while (blocked_ < n) absl::SleepFor(absl::Milliseconds(1));
  }
  void Release() { released_ = true; }
  int blocked() const { return blocked_; }

 private:
  std::atomic<int> blocked_{0};
  std::atomic<bool> released_{false};
};

TEST_F(HttpServerTest, QuickRequestsDoNotWaitBehindBlockedWorkers) {
  auto handler = std::make_shared<BlockingHandler>();
  HttpServerOptions options;
  options.worker_threads = 2;
  options.is_quick = [](const HttpRequest& r) { return r.path == "/quick"; };
  options.quick_worker_threads = 1;
  StartServer(options, [handler](HttpRequest r) { return (*handler)(std::move(r)); });
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 4; ++i) {  // both workers busy, two more queued
    slow.push_back(Connect());
    ASSERT_TRUE(slow.back()->Send(Get("/block")));
  }
  handler->WaitForBlocked(2);
  auto quick = Connect();
  ASSERT_TRUE(quick->Send(Get("/quick")));
  // Answered while both workers are still blocked (they are released only
  // after): behind them it would never come, and the read would time out.
  std::optional<RawResponse> response = quick->ReadResponse();
  EXPECT_EQ(handler->blocked(), 2);
  handler->Release();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "GET /quick  ");
  for (auto& client : slow) {
    response = client->ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(HttpServerTest, RequestQueuedTooLongIs503WithoutRunningHandler) {
  auto handler = std::make_shared<BlockingHandler>();
  HttpServerOptions options;
  options.worker_threads = 1;
  options.max_queue_wait = absl::Milliseconds(100);
  options.queue_retry_after = absl::Seconds(3);
  StartServer(options, [handler](HttpRequest r) { return (*handler)(std::move(r)); });
  auto first = Connect();
  ASSERT_TRUE(first->Send(Get("/block")));
  handler->WaitForBlocked(1);
  auto second = Connect();
  ASSERT_TRUE(second->Send(Get("/block")));  // queued behind the first
  absl::SleepFor(absl::Milliseconds(300));
  handler->Release();
  std::optional<RawResponse> response = first->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);  // it did not wait in the queue
  response = second->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->Header("Retry-After"), "3");
  EXPECT_EQ(handler->blocked(), 1);  // the handler never saw the second
  // Once the queue is short again, requests are served.
  ASSERT_TRUE(second->Send(Get("/after")));
  response = second->ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServerNewTest, PortInUseIsUnavailable) {
  HttpServerOptions options;
  options.port = 0;
  auto first = HttpServer::New(options, Echo);
  ASSERT_TRUE(first.ok()) << first.status();
  options.port = (*first)->port();
  auto second = HttpServer::New(options, Echo);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(second.status().message(),
                                absl::StrCat(options.port)));
}

TEST(HttpServerNewTest, BadOptionsAreFailedPrecondition) {
  HttpServerOptions options;
  options.address = "not-an-ip";
  EXPECT_EQ(HttpServer::New(options, Echo).status().code(),
            absl::StatusCode::kFailedPrecondition);
  options = HttpServerOptions();
  options.worker_threads = 0;
  EXPECT_EQ(HttpServer::New(options, Echo).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HttpServer::New(HttpServerOptions(), nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace scep::gateway
