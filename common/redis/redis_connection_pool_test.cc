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
#include "common/redis/redis_request_store.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

constexpr char kPassword[] = "pool-Passw0rd-7f3a";
constexpr char kWrongPassword[] = "wrong-Passw0rd-91c2";
constexpr char kAclUser[] = "scep-gateway";
constexpr char kAclPassword[] = "acl-Passw0rd-5be8";
constexpr char kSentinelPassword[] = "sentinel-Passw0rd-2d61";
constexpr char kMaster[] = "scep-primary";

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Every secret of this file; none may appear in any Status message.
void ExpectNoSecret(const absl::Status& status) {
  for (const char* secret : {kPassword, kWrongPassword, kAclPassword, kSentinelPassword}) {
    EXPECT_FALSE(absl::StrContains(status.message(), secret))
        << "secret in: " << status.message();
  }
}

std::string Text(const RedisReplyPtr& reply) {
  return std::string(reply->str, reply->len);
}

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
  absl::StatusOr<std::optional<std::string>> consumed =
      (*challenges)->Consume("onetime", "challenge-1");
  ASSERT_TRUE(consumed.ok()) << consumed.status();
  EXPECT_EQ(consumed->value_or("(none)"), "CN=d");

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
    absl::StatusOr<std::string> info = server_->Command({"INFO", section});
    EXPECT_TRUE(info.ok()) << info.status();
    for (absl::string_view line : absl::StrSplit(info.value_or(""), "\r\n")) {
      if (absl::ConsumePrefix(&line, field + ":")) {
        int64_t value = -1;
        if (absl::SimpleAtoi(line, &value)) return value;
      }
    }
    ADD_FAILURE() << "no " << field << " in INFO " << section;
    return -1;
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

// A primary, its replica and a Sentinel watching them (requirepass on the
// Sentinel); the pool reaches Redis through the Sentinel only.
class RedisPoolSentinelTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    absl::StatusOr<std::unique_ptr<RedisTestServer>> started = RedisTestServer::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    primary_ = *std::move(started);
    started = RedisTestServer::Start(
        "", {"--replicaof", "127.0.0.1", std::to_string(primary_->port())});
    ASSERT_TRUE(started.ok()) << started.status();
    replica_ = *std::move(started);
    started = RedisTestServer::StartSentinel(kMaster, primary_->port(), kSentinelPassword);
    ASSERT_TRUE(started.ok()) << started.status();
    sentinel_ = *std::move(started);
  }

  // Sentinel options: `host` and `port` point nowhere, to show they are not used.
  RedisOptions Options() const {
    RedisOptions options;
    options.host = "127.0.0.1";
    options.port = 1;
    options.pool_size = 4;
    options.sentinels = {{"127.0.0.1", sentinel_->port()}};
    options.sentinel_master = kMaster;
    options.sentinel_password = kSentinelPassword;
    return options;
  }

  std::unique_ptr<RedisConnectionPool> Pool(RedisOptions options) {
    absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
        RedisConnectionPool::New(std::move(options));
    EXPECT_TRUE(pool.ok()) << pool.status();
    return pool.ok() ? *std::move(pool) : nullptr;
  }

  // Waits until `condition` holds, at most `limit`.
  static bool Within(absl::Duration limit, const std::function<bool()>& condition) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      if (condition()) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return condition();
  }

  std::string PrimaryPort() {
    absl::StatusOr<std::string> addr =
        sentinel_->Command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", kMaster});
    if (!addr.ok()) return "";
    std::vector<std::string> parts = absl::StrSplit(*addr, '\n');
    return parts.back();
  }

  std::unique_ptr<RedisTestServer> primary_;
  std::unique_ptr<RedisTestServer> replica_;
  std::unique_ptr<RedisTestServer> sentinel_;
};

TEST_F(RedisPoolSentinelTest, CommandsGoToThePrimaryTheSentinelNames) {
  RedisOptions options = Options();
  // A sentinel that is down first: the next one is asked.
  options.sentinels.insert(options.sentinels.begin(), {"127.0.0.1", 1});
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(Text(*set), "OK");
  absl::StatusOr<std::string> got = primary_->Command({"GET", "scep:k"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "v");
}

TEST_F(RedisPoolSentinelTest, AfterAFailoverCommandsGoToTheNewPrimary) {
  RedisOptions options = Options();
  absl::Mutex mu;
  std::vector<int> primaries;  // ports on_primary was told of
  options.on_primary = [&](const RedisEndpoint& primary) {
    absl::MutexLock lock(&mu);
    primaries.push_back(primary.port);
  };
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  ASSERT_TRUE(pool->Run("Set", {"SET", "scep:before", "1"}).ok());
  ASSERT_TRUE(Within(absl::Seconds(30), [&] {
    absl::StatusOr<RedisReplyPtr> waited = pool->Run("Wait", {"WAIT", "1", "500"});
    return waited.ok() && (*waited)->integer == 1;
  })) << "the replica never caught up";
  // The Sentinel learns of the replica from the primary's INFO; a failover
  // needs it known and in sync.
  ASSERT_TRUE(Within(absl::Seconds(30), [&] {
    return sentinel_->Command({"SENTINEL", "FAILOVER", kMaster}).ok();
  })) << "the Sentinel never accepted a failover";
  const std::string replica_port = std::to_string(replica_->port());
  ASSERT_TRUE(Within(absl::Seconds(30), [&] { return PrimaryPort() == replica_port; }))
      << "the Sentinel never named the replica the primary";

  // The pool asks the Sentinel again within a second (the old primary may
  // still be up and a primary: Sentinel reconfigures it later), leaves its
  // connection to the old one and writes to the new one.
  absl::SleepFor(absl::Milliseconds(1100));
  ASSERT_TRUE(Within(absl::Seconds(20), [&] {
    return pool->Run("Set", {"SET", "scep:after", "2"}).ok();
  }));
  absl::StatusOr<std::string> got = replica_->Command({"GET", "scep:after"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "2") << PrimaryPort() << " " << replica_port << " "
                       << replica_->Command({"ROLE"}).value_or("?") << " / "
                       << primary_->Command({"ROLE"}).value_or("?") << " / "
                       << primary_->Command({"GET", "scep:after"}).value_or("?");
  got = replica_->Command({"GET", "scep:before"});  // replicated before the failover
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "1");
  absl::MutexLock lock(&mu);
  EXPECT_EQ(primaries, (std::vector<int>{primary_->port(), replica_->port()}));
}

TEST_F(RedisPoolSentinelTest, ThePoolAsksAgainOnOneKeptSentinelConnection) {
  RedisOptions options = Options();
  options.sentinel_recheck = absl::Milliseconds(5);
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  auto sentinel_connections = [&] {
    absl::StatusOr<std::string> info = sentinel_->Command({"INFO", "stats"});
    EXPECT_TRUE(info.ok()) << info.status();
    for (absl::string_view line : absl::StrSplit(info.value_or(""), "\r\n")) {
      int64_t value = -1;
      if (absl::ConsumePrefix(&line, "total_connections_received:") &&
          absl::SimpleAtoi(line, &value)) {
        return value;
      }
    }
    ADD_FAILURE() << "no total_connections_received";
    return int64_t{-1};
  };
  ASSERT_TRUE(pool->Run("Set", {"SET", "scep:k", "v"}).ok());
  const int64_t before = sentinel_connections();
  for (int i = 0; i < 20; ++i) {  // each command asks the Sentinel again
    absl::SleepFor(absl::Milliseconds(10));
    ASSERT_TRUE(pool->Run("Get", {"GET", "scep:k"}).ok());
  }
  // Only the INFO connections of this test (one per call) are new.
  EXPECT_EQ(sentinel_connections() - before, 1);
}

TEST_F(RedisPoolSentinelTest, AnUnknownPrimaryNameIsUnavailableAndNamed) {
  RedisOptions options = Options();
  options.sentinel_master = "no-such-primary";
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(set.status().message(), "does not monitor 'no-such-primary'"))
      << set.status();
  EXPECT_TRUE(absl::StrContains(set.status().message(),
                                absl::StrCat("127.0.0.1:", sentinel_->port())))
      << set.status();
  ExpectNoSecret(set.status());
}

TEST_F(RedisPoolSentinelTest, AWrongSentinelPasswordIsRefusedWithoutShowingIt) {
  RedisOptions options = Options();
  options.sentinel_password = kWrongPassword;
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:k", "v"});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(set.status().message(), "AUTH to Sentinel refused"))
      << set.status();
  ExpectNoSecret(set.status());
}

TEST_F(RedisPoolSentinelTest, AServerTheSentinelNamesThatIsAReplicaIsNotUsed) {
  // A second Sentinel configured with the replica's address as the primary
  // (a stale view, as during a failover).
  absl::StatusOr<std::unique_ptr<RedisTestServer>> stale =
      RedisTestServer::StartSentinel(kMaster, replica_->port());
  ASSERT_TRUE(stale.ok()) << stale.status();
  RedisOptions options = Options();
  options.sentinels = {{"127.0.0.1", (*stale)->port()}};
  options.sentinel_password.clear();
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> get = pool->Run("Get", {"GET", "scep:k"});
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(get.status().message(), "is a replica")) << get.status();
}

TEST(RedisPoolOptionsTest, SentinelsWithoutAPrimaryNameAreRefused) {
  RedisOptions options;
  options.sentinels = {{"127.0.0.1", 26379}};
  absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
      RedisConnectionPool::New(options);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kFailedPrecondition);
  options.sentinel_master = kMaster;
  options.sentinels = {{"127.0.0.1", 0}};
  EXPECT_FALSE(RedisConnectionPool::New(options).ok());
}

TEST(RedisPoolOptionsTest, SentinelAddressesAreParsed) {
  absl::StatusOr<std::vector<RedisEndpoint>> parsed =
      ParseRedisEndpoints("s1:26380, s2 ,[fd00::1]:26381,[::1]", 26379);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[0].host, "s1");
  EXPECT_EQ((*parsed)[0].port, 26380);
  EXPECT_EQ((*parsed)[1].host, "s2");
  EXPECT_EQ((*parsed)[1].port, 26379);
  EXPECT_EQ((*parsed)[2].host, "fd00::1");
  EXPECT_EQ((*parsed)[2].port, 26381);
  EXPECT_EQ((*parsed)[3].host, "::1");
  EXPECT_EQ((*parsed)[3].port, 26379);
  EXPECT_TRUE(ParseRedisEndpoints("", 26379)->empty());
  for (const char* bad : {"s1:0", "s1:x", ":26379", "fd00::1", "[fd00::1", "[::1]x"}) {
    absl::StatusOr<std::vector<RedisEndpoint>> refused = ParseRedisEndpoints(bad, 26379);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (!refused.ok()) EXPECT_TRUE(absl::StrContains(refused.status().message(), bad));
  }
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
