// TLS to Redis (RedisOptions::tls): the pool against real redis-server
// processes listening with --tls-port, with a small PKI made here.

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/test_pki.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_pool_test_util.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

using crypto::testing::Identity;
using crypto::testing::Issue;
using pool_test::ExpectNoSecret;
using pool_test::InCi;
using pool_test::InfoField;
using pool_test::kPassword;
using pool_test::Text;

class RedisPoolTlsTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    char dir[] = "/tmp/scep-redis-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    ca_ = Issue("Redis Test CA", nullptr, crypto::testing::CaExtensions());
    other_ca_ = Issue("Some Other CA", nullptr, crypto::testing::CaExtensions());
    server_ = Issue("redis", &ca_,
                    {{NID_subject_alt_name, "DNS:redis.test,IP:127.0.0.1"},
                     {NID_ext_key_usage, "serverAuth,clientAuth"}});
    gateway_ = Issue("scep-gateway", &ca_, {{NID_ext_key_usage, "clientAuth"}});
    crypto::testing::WritePemFile(Path("ca.pem"), ca_.cert.get());
    crypto::testing::WritePemFile(Path("server.pem"), server_.cert.get());
    crypto::testing::WriteKeyFile(Path("server.key"), server_.key.get());
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  // A redis-server with a TLS port; with `client_certificates`, clients
  // must show one issued by the test CA.
  std::unique_ptr<RedisTestServer> StartServer(bool client_certificates = false,
                                               std::string password = "") {
    RedisTestServer::TlsFiles files{Path("server.pem"), Path("server.key"),
                                    client_certificates ? Path("ca.pem") : ""};
    absl::StatusOr<std::unique_ptr<RedisTestServer>> started =
        RedisTestServer::StartTls(files, std::move(password));
    EXPECT_TRUE(started.ok()) << started.status();
    return started.ok() ? *std::move(started) : nullptr;
  }

  // The gateway's side: trusts `trusted`, shows `client` when given.
  static std::shared_ptr<SSL_CTX> ClientContext(const Identity& trusted,
                                                const Identity* client = nullptr) {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), trusted.cert.get());
    if (client != nullptr) {
      EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), client->cert.get()), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), client->key.get()), 1);
    }
    return ctx;
  }

  static RedisOptions Options(const RedisTestServer& server, std::shared_ptr<SSL_CTX> ctx,
                              const std::string& host = "127.0.0.1") {
    RedisOptions options;
    options.host = host;
    options.port = server.tls_port();
    options.pool_size = 4;
    options.failure_cooldown = absl::ZeroDuration();
    options.tls = [ctx] { return ctx; };
    return options;
  }

  static std::unique_ptr<RedisConnectionPool> Pool(RedisOptions options) {
    absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
        RedisConnectionPool::New(std::move(options));
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? *std::move(pool) : nullptr;
  }

  std::string dir_;
  Identity ca_, other_ca_, server_, gateway_;
};

TEST_F(RedisPoolTlsTest, CommandsGoOverTlsWithTheServersChainAndNameVerified) {
  std::unique_ptr<RedisTestServer> server = StartServer(false, kPassword);
  ASSERT_NE(server, nullptr);
  RedisOptions options = Options(*server, ClientContext(ca_));
  options.password = kPassword;
  options.db = 2;
  std::unique_ptr<RedisConnectionPool> pool = Pool(std::move(options));
  ASSERT_NE(pool, nullptr);
  // A value of 1 MiB: many TLS records each way.
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("set", {"SET", "big", big});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Text(*set), "OK");
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<RedisReplyPtr> got = pool->Run("get", {"GET", "big"});
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ((*got)->type, REDIS_REPLY_STRING);
    EXPECT_EQ(Text(*got), big);
  }
  // AUTH and SELECT went over TLS too: the key is in db 2, on this server.
  absl::StatusOr<std::string> keyspace = server->Command({"INFO", "keyspace"});
  ASSERT_TRUE(keyspace.ok()) << keyspace.status();
  EXPECT_TRUE(absl::StrContains(*keyspace, "db2:keys=1,")) << *keyspace;
  // One kept connection served all 21 commands.
  EXPECT_EQ(InfoField(*server, "clients", "connected_clients"), 2);  // the pool's + INFO's
}

TEST_F(RedisPoolTlsTest, AServerCertificateFromAnotherCaIsRefused) {
  std::unique_ptr<RedisTestServer> server = StartServer(false, kPassword);
  ASSERT_NE(server, nullptr);
  RedisOptions options = Options(*server, ClientContext(other_ca_));
  options.password = kPassword;
  std::unique_ptr<RedisConnectionPool> pool = Pool(std::move(options));
  absl::StatusOr<RedisReplyPtr> reply = pool->Run("ping", {"PING"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(),
                                absl::StrCat("TLS handshake with 127.0.0.1:", server->tls_port(),
                                             " failed: certificate verify failed")))
      << reply.status();
  ExpectNoSecret(reply.status());
}

TEST_F(RedisPoolTlsTest, TheServerNameIsChecked) {
  std::unique_ptr<RedisTestServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  // "localhost" is not in the certificate (redis.test, 127.0.0.1).
  std::unique_ptr<RedisConnectionPool> by_name =
      Pool(Options(*server, ClientContext(ca_), "localhost"));
  absl::StatusOr<RedisReplyPtr> reply = by_name->Run("ping", {"PING"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(), "hostname mismatch")) << reply.status();

  // The name to check given apart from the address connected to (a
  // Sentinel names the primary by address).
  RedisOptions options = Options(*server, ClientContext(ca_), "localhost");
  options.tls_server_name = "redis.test";
  reply = Pool(std::move(options))->Run("ping", {"PING"});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(Text(*reply), "PONG");

  options = Options(*server, ClientContext(ca_));
  options.tls_server_name = "other.test";
  reply = Pool(std::move(options))->Run("ping", {"PING"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(), "hostname mismatch")) << reply.status();
}

TEST_F(RedisPoolTlsTest, AClientCertificateWhenTheServerAsksForOne) {
  std::unique_ptr<RedisTestServer> server = StartServer(/*client_certificates=*/true);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<RedisReplyPtr> reply =
      Pool(Options(*server, ClientContext(ca_)))->Run("ping", {"PING"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  // TLS 1.3 refuses a missing client certificate after the handshake, at
  // the first read (its alert, or a reset when the server closed before
  // the command arrived): the message says what is missing either way.
  EXPECT_TRUE(absl::StrContains(reply.status().message(),
                                "the server asked for a client certificate and none is "
                                "configured"))
      << reply.status();

  reply = Pool(Options(*server, ClientContext(ca_, &gateway_)))->Run("ping", {"PING"});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(Text(*reply), "PONG");
}

TEST_F(RedisPoolTlsTest, APlainTextPortIsToldApart) {
  std::unique_ptr<RedisTestServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions options = Options(*server, ClientContext(ca_));
  options.port = server->port();  // the plain port
  absl::StatusOr<RedisReplyPtr> reply = Pool(std::move(options))->Run("ping", {"PING"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(),
                                absl::StrCat("TLS handshake with 127.0.0.1:", server->port(),
                                             " failed")))
      << reply.status();
}

TEST_F(RedisPoolTlsTest, ConnectionsTheServerClosedAreNotReused) {
  std::unique_ptr<RedisTestServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  std::unique_ptr<RedisConnectionPool> pool = Pool(Options(*server, ClientContext(ca_)));
  ASSERT_TRUE(pool->Run("set", {"SET", "k", "1"}).ok());
  const int64_t connections = InfoField(*server, "stats", "total_connections_received");
  // Closes every client but the one asking, the pool's TLS connection too.
  absl::StatusOr<std::string> killed = server->Command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_TRUE(killed.ok()) << killed.status();
  absl::SleepFor(absl::Milliseconds(100));
  absl::StatusOr<RedisReplyPtr> reply = pool->Run("incr", {"INCR", "k"});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ((*reply)->integer, 2);
  // A new connection was opened for it (one more for INFO itself, and the
  // KILL's own).
  EXPECT_EQ(InfoField(*server, "stats", "total_connections_received"), connections + 3);
}

TEST_F(RedisPoolTlsTest, AFrozenServerTimesOutAndARestartedOneIsReconnected) {
  std::unique_ptr<RedisTestServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  RedisOptions options = Options(*server, ClientContext(ca_));
  options.command_timeout = absl::Milliseconds(200);
  std::unique_ptr<RedisConnectionPool> pool = Pool(std::move(options));
  ASSERT_TRUE(pool->Run("ping", {"PING"}).ok());

  server->Freeze();
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReplyPtr> reply = pool->Run("ping", {"PING"});
  const absl::Duration took = absl::Now() - start;
  server->Thaw();
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(), "timed out")) << reply.status();
  EXPECT_LT(took, absl::Seconds(5));

  // Killed (no close_notify, no FIN handshake of its own): the next command
  // writes into a reset connection (SIGPIPE blocked, not raised), fails,
  // and the one after reconnects.
  server->Kill();
  reply = pool->Run("ping", {"PING"});
  EXPECT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  ASSERT_TRUE(server->Restart().ok());
  reply = pool->Run("ping", {"PING"});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(Text(*reply), "PONG");
}

// A Sentinel and a primary both on TLS only for the pool: the Sentinel is
// asked over TLS, names the primary's TLS port (tls-replication: it talks
// TLS to the primary itself), and the pool connects there over TLS.
TEST_F(RedisPoolTlsTest, SentinelAndPrimaryOverTls) {
  std::unique_ptr<RedisTestServer> primary = StartServer();
  ASSERT_NE(primary, nullptr);
  const int sentinel_tls_port = RedisTestServer::FreePort();
  const std::string tls = absl::StrCat(
      "tls-port ", sentinel_tls_port, "\ntls-cert-file ", Path("server.pem"),
      "\ntls-key-file ", Path("server.key"), "\ntls-ca-cert-file ", Path("ca.pem"),
      "\ntls-auth-clients no\ntls-replication yes\n");
  absl::StatusOr<std::unique_ptr<RedisTestServer>> sentinel =
      RedisTestServer::StartSentinel("tls-primary", primary->tls_port(), "", tls);
  ASSERT_TRUE(sentinel.ok()) << sentinel.status();

  RedisOptions options = Options(*primary, ClientContext(ca_));
  options.port = 1;  // unused with sentinels
  options.sentinels = {{"127.0.0.1", sentinel_tls_port}};
  options.sentinel_master = "tls-primary";
  std::vector<RedisEndpoint> told;
  options.on_primary = [&told](const RedisEndpoint& primary) { told.push_back(primary); };
  std::unique_ptr<RedisConnectionPool> pool = Pool(std::move(options));
  absl::StatusOr<RedisReplyPtr> reply = pool->Run("set", {"SET", "via", "sentinel"});
  ASSERT_TRUE(reply.ok()) << reply.status();
  absl::StatusOr<std::string> value = primary->Command({"GET", "via"});
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "sentinel");
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].port, primary->tls_port());
}

TEST(RedisPoolTlsOptionsTest, AServerNameWithoutTlsIsRefused) {
  RedisOptions options;
  options.tls_server_name = "redis.test";
  absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
      RedisConnectionPool::New(std::move(options));
  EXPECT_TRUE(absl::IsFailedPrecondition(pool.status())) << pool.status();
}

}  // namespace
}  // namespace scep::redis
