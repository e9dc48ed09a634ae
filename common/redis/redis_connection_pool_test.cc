#include "common/redis/redis_connection_pool.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_enrollment_store.h"
#include "common/redis/redis_memory.h"
#include "common/redis/redis_pool_test_util.h"
#include "common/redis/redis_request_store.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

using pool_test::ExpectNoSecret;
using pool_test::InCi;
using pool_test::InfoField;
using pool_test::kAclPassword;
using pool_test::kAclUser;
using pool_test::kPassword;
using pool_test::kWrongPassword;
using pool_test::Text;

// A redis-server with `requirepass` and an ACL user limited to scep:* keys.
class RedisPoolAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    absl::StatusOr<std::unique_ptr<RedisTestServer>> server =
        RedisTestServer::Start(kPassword);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    absl::StatusOr<std::string> created =
        server_->Command({"ACL", "SETUSER", kAclUser, "on",
                          std::string(">") + kAclPassword, "~scep:*", "+@all"});
    ASSERT_TRUE(created.ok()) << created.status();
  }

  std::unique_ptr<RedisConnectionPool> Pool(std::string username,
                                            std::string password) {
    RedisOptions options;
    options.port = server_->port();
    options.username = std::move(username);
    options.password = std::move(password);
    options.pool_size = 2;
    absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
        RedisConnectionPool::New(options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? *std::move(pool) : nullptr;
  }

  std::unique_ptr<RedisTestServer> server_;
};

TEST_F(RedisPoolAuthTest, RightPasswordRunsCommands) {
  std::unique_ptr<RedisConnectionPool> pool = Pool("", kPassword);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Text(*set), "OK");
  absl::StatusOr<RedisReplyPtr> who = pool->Run("WhoAmI", {"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(Text(*who), "default");
}

// Commands run whether or not the process ignores SIGPIPE (with it not
// ignored, each blocks it on its thread), and leave the thread's signal
// mask and the process's disposition as they found them.
TEST_F(RedisPoolAuthTest, CommandsLeaveSignalStateAsTheyFoundIt) {
  for (bool ignore : {false, true}) {
    SCOPED_TRACE(ignore ? "SIGPIPE ignored" : "SIGPIPE default");
    struct sigaction previous;
    struct sigaction wanted = {};
    wanted.sa_handler = ignore ? SIG_IGN : SIG_DFL;
    ASSERT_EQ(sigaction(SIGPIPE, &wanted, &previous), 0);
    std::unique_ptr<RedisConnectionPool> pool = Pool("", kPassword);
    ASSERT_NE(pool, nullptr);
    absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:sig", "v"});
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_EQ(Text(*set), "OK");
    sigset_t mask;
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &mask), 0);
    EXPECT_EQ(sigismember(&mask, SIGPIPE), 0);
    struct sigaction now;
    ASSERT_EQ(sigaction(SIGPIPE, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, wanted.sa_handler);
    sigaction(SIGPIPE, &previous, nullptr);
  }
}

TEST_F(RedisPoolAuthTest, WrongPasswordIsUnavailableAndNeverEchoed) {
  std::unique_ptr<RedisConnectionPool> pool = Pool("", kWrongPassword);
  ASSERT_NE(pool, nullptr);
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<RedisReplyPtr> reply = pool->Run("Ping", {"PING"});
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(absl::StrContains(reply.status().message(), "Redis Ping: AUTH"))
        << reply.status();
    ExpectNoSecret(reply.status());
  }
}

TEST_F(RedisPoolAuthTest, MissingPasswordIsUnavailable) {
  std::unique_ptr<RedisConnectionPool> pool = Pool("", "");
  ASSERT_NE(pool, nullptr);
  // Without AUTH the server answers NOAUTH to every command: callers must
  // see an outage, not an error reply they might take for a data answer.
  absl::StatusOr<RedisReplyPtr> reply =
      pool->Run("Claim", {"SET", "scep:k", "v", "NX"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(reply.status().message(), "NOAUTH"))
      << reply.status();
}

TEST_F(RedisPoolAuthTest, AclUserAuthenticatesWithItsOwnPassword) {
  std::unique_ptr<RedisConnectionPool> pool = Pool(kAclUser, kAclPassword);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> who = pool->Run("WhoAmI", {"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(Text(*who), kAclUser);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Text(*set), "OK");
  // Outside the user's key pattern: the ACL refusal is an outage too.
  absl::StatusOr<RedisReplyPtr> denied =
      pool->Run("Set", {"SET", "other:k", "v"});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(denied.status().message(), "NOPERM"))
      << denied.status();
  // The connection stays usable for permitted commands.
  EXPECT_TRUE(pool->Run("Get", {"GET", "scep:k"}).ok());
}

TEST_F(RedisPoolAuthTest, AclUserWithWrongPasswordIsUnavailable) {
  for (auto [user, password] :
       {std::pair<const char*, const char*>{kAclUser, kWrongPassword},
        {kAclUser, kPassword},
        {"no-such-user", kAclPassword}}) {
    std::unique_ptr<RedisConnectionPool> pool = Pool(user, password);
    ASSERT_NE(pool, nullptr);
    absl::StatusOr<RedisReplyPtr> reply = pool->Run("Ping", {"PING"});
    ASSERT_FALSE(reply.ok()) << user;
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(absl::StrContains(reply.status().message(), "AUTH as user"))
        << reply.status();
    ExpectNoSecret(reply.status());
  }
}

TEST_F(RedisPoolAuthTest, AuthenticatesEveryNewConnection) {
  std::unique_ptr<RedisConnectionPool> pool = Pool(kAclUser, kAclPassword);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->Run("Ping", {"PING"}).ok());
  // The restarted server is empty: the ACL user must be created again, and
  // the pool's next connection must AUTH again to use it.
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_FALSE(pool->Run("Ping", {"PING"}).ok());  // user gone: refused
  ASSERT_TRUE(server_
                  ->Command({"ACL", "SETUSER", kAclUser, "on",
                             std::string(">") + kAclPassword, "~scep:*",
                             "+@all"})
                  .ok());
  absl::StatusOr<RedisReplyPtr> who = pool->Run("WhoAmI", {"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(Text(*who), kAclUser);
}

// The ACL user the chart README recommends (only scep:* keys, no admin or
// dangerous commands) is enough for every store the gateway runs.
TEST_F(RedisPoolAuthTest, RecommendedAclUserRunsTheGatewayStores) {
  ASSERT_TRUE(server_
                  ->Command({"ACL", "SETUSER", "scep-least", "on",
                             std::string(">") + kAclPassword, "~scep:*",
                             "+@all", "-@admin", "-@dangerous", "+info"})
                  .ok());
  RedisOptions options;
  options.port = server_->port();
  options.username = "scep-least";
  options.password = kAclPassword;

  auto store = RedisEnrollmentStore::New(options);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Ping().ok());
  absl::StatusOr<NonceUse> fresh =
      (*store)->RecordNonce("dev", "0123abcd", "msg", absl::Minutes(1));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(*fresh, NonceUse::kFresh);
  absl::StatusOr<Transaction> claimed =
      (*store)->ClaimTransaction("dev", "tid-1", "fp", absl::Minutes(1));
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->state, Transaction::State::kClaimed);
  EXPECT_TRUE((*store)
                  ->CompleteTransaction("dev", "tid-1", "fp", "cert-der",
                                        absl::Hours(1))
                  .ok());

  auto challenges = RedisChallengeStore::New(options);
  ASSERT_TRUE(challenges.ok()) << challenges.status();
  ASSERT_TRUE((*challenges)
                  ->Create("onetime", "challenge-1", "CN=d", absl::Minutes(5))
                  .ok());
  absl::StatusOr<std::optional<std::string>> claimed_challenge =
      (*challenges)->Claim("onetime", "challenge-1", "tid-1", "fp");
  ASSERT_TRUE(claimed_challenge.ok()) << claimed_challenge.status();
  EXPECT_EQ(claimed_challenge->value_or("(none)"), "CN=d");
  EXPECT_TRUE((*challenges)->Spend("onetime", "challenge-1", "tid-1", "fp").ok());

  auto index = RedisCertificateIndex::New(options);
  ASSERT_TRUE(index.ok()) << index.status();
  CertificateRecord record;
  record.certificate = "der";
  record.profile = "dev";
  ASSERT_TRUE((*index)->Put("0a0b", record, absl::Hours(1)).ok());
  EXPECT_TRUE((*index)->Revoke("0a0b", 1, absl::Now()).ok());
  absl::StatusOr<std::vector<RevokedSerial>> revoked = (*index)->ListRevoked();
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->size(), 1u);
  EXPECT_TRUE((*index)->NextCrlNumber().ok());

  // The memory check (INFO, allowed by +info alone of @dangerous).
  options.pool_size = 1;
  std::unique_ptr<RedisConnectionPool> pool = RedisConnectionPool::New(options).value();
  absl::StatusOr<RedisMemory> memory = ReadRedisMemory(*pool);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->policy, "noeviction");
  EXPECT_FALSE(pool->Run("Config", {"CONFIG", "GET", "maxmemory"}).ok());  // still refused
}

// The pool's endpoint reaches `server_`, which a failover turns into a
// replica of `primary_` (REPLICAOF, as Sentinel or FAILOVER would): every
// connection opened before stays with it and meets READONLY.
class RedisPoolFailoverTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    for (std::unique_ptr<RedisTestServer>* server : {&server_, &primary_}) {
      absl::StatusOr<std::unique_ptr<RedisTestServer>> started =
          RedisTestServer::Start();
      ASSERT_TRUE(started.ok()) << started.status();
      *server = *std::move(started);
    }
    RedisOptions options;
    options.port = server_->port();
    options.pool_size = 4;
    absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
        RedisConnectionPool::New(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }

  void TurnReplica() {
    ASSERT_TRUE(server_
                    ->Command({"REPLICAOF", "127.0.0.1",
                               std::to_string(primary_->port())})
                    .ok());
  }

  // A field of INFO on `server_` (each call is one connection more).
  int64_t Info(const std::string& section, const std::string& field) {
    return InfoField(*server_, section, field);
  }

  // Client connections `server_` holds apart from the one asking, once
  // closes the pool made have reached it.
  int64_t OtherClients(int64_t want) {
    int64_t others = -1;
    for (int i = 0; i < 100; ++i) {
      others = Info("clients", "connected_clients") - 1;
      if (others == want) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return others;
  }

  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisTestServer> primary_;
  std::unique_ptr<RedisConnectionPool> pool_;
};

TEST_F(RedisPoolFailoverTest, WriteThatMeetsAReplicaIsSentOnceMoreOnANewConnection) {
  absl::StatusOr<RedisReplyPtr> before = pool_->Run("ClientId", {"CLIENT", "ID"});
  ASSERT_TRUE(before.ok()) << before.status();
  TurnReplica();

  const int64_t opened = Info("stats", "total_connections_received");
  absl::StatusOr<RedisReplyPtr> set = pool_->Run("Set", {"SET", "scep:k", "v"});
  // Sent twice: on the old connection, then on a new one (which met the
  // same replica, as the endpoint has not moved on here).
  EXPECT_EQ(Info("stats", "total_connections_received") - opened, 2);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(set.status().message(), "READONLY")) << set.status();
  EXPECT_TRUE(absl::StrContains(set.status().message(), "replica")) << set.status();

  // The connection that met the replica is not used again.
  absl::StatusOr<RedisReplyPtr> after = pool_->Run("ClientId", {"CLIENT", "ID"});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE((*after)->integer, (*before)->integer);

  // Promoted again (or the endpoint moved to the new primary): writes go through.
  ASSERT_TRUE(server_->Command({"REPLICAOF", "NO", "ONE"}).ok());
  absl::StatusOr<RedisReplyPtr> again = pool_->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Text(*again), "OK");
}

TEST_F(RedisPoolFailoverTest, IdleConnectionsToTheReplicaAreClosedWithIt) {
  // Three connections at once (each waits 0.3 s on an empty list), then idle.
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([this] {
      EXPECT_TRUE(pool_->Run("Wait", {"BLPOP", "scep:none", "0.3"}).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(OtherClients(3), 3);

  TurnReplica();
  EXPECT_FALSE(pool_->Run("Set", {"SET", "scep:k", "v"}).ok());
  EXPECT_EQ(OtherClients(0), 0);  // none of the pool's connections is left

  // Reads still work on a new connection (a replica serves them).
  absl::StatusOr<RedisReplyPtr> get = pool_->Run("Get", {"GET", "scep:k"});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ((*get)->type, REDIS_REPLY_NIL);
}

TEST(RedisPoolOptionsTest, UsernameWithoutPasswordIsRefused) {
  RedisOptions options;
  options.username = kAclUser;
  absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
      RedisConnectionPool::New(options);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace scep::redis
