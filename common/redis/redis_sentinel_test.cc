// Redis Sentinel (RedisOptions::sentinels): the pool finds the primary
// through real `redis-server --sentinel` processes.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_pool_test_util.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

using pool_test::ExpectNoSecret;
using pool_test::InCi;
using pool_test::InfoField;
using pool_test::kAclPassword;
using pool_test::kAclUser;
using pool_test::kSentinelPassword;
using pool_test::kWrongPassword;
using pool_test::Text;

constexpr char kMaster[] = "scep-primary";

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
    return InfoField(*sentinel_, "stats", "total_connections_received");
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

// Sentinels with ACL users (Redis 6.2+: `user` lines in sentinel.conf):
// AUTH with the user's name and password; a wrong pair is refused, named
// by the user, never showing a password.
TEST_F(RedisPoolSentinelTest, AnAclUserOnTheSentinels) {
  absl::StatusOr<std::unique_ptr<RedisTestServer>> acl = RedisTestServer::StartSentinel(
      kMaster, primary_->port(), kSentinelPassword,
      absl::StrCat("user ", kAclUser, " on >", kAclPassword, " +@all\n"));
  ASSERT_TRUE(acl.ok()) << acl.status();
  RedisOptions options = Options();
  options.sentinels = {{"127.0.0.1", (*acl)->port()}};
  options.sentinel_username = kAclUser;
  options.sentinel_password = kAclPassword;
  std::unique_ptr<RedisConnectionPool> pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  absl::StatusOr<RedisReplyPtr> set = pool->Run("Set", {"SET", "scep:acl", "v"});
  ASSERT_TRUE(set.ok()) << set.status();

  options.sentinel_password = kSentinelPassword;  // the default user's, not the ACL user's
  pool = Pool(options);
  ASSERT_NE(pool, nullptr);
  set = pool->Run("Set", {"SET", "scep:acl", "v"});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(set.status().message(),
                                absl::StrCat("AUTH to Sentinel as user ", kAclUser, " refused")))
      << set.status();
  ExpectNoSecret(set.status());

  // A username needs a password.
  options.sentinel_password.clear();
  absl::StatusOr<std::unique_ptr<RedisConnectionPool>> refused =
      RedisConnectionPool::New(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "Sentinel username needs"));
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
    if (!refused.ok()) {
      EXPECT_TRUE(absl::StrContains(refused.status().message(), bad));
    }
  }
}

}  // namespace
}  // namespace scep::redis
