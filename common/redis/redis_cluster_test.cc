// A Redis Cluster node behind the gateway's endpoint (cluster mode enabled,
// which the gateway does not support): refused with a reason that says so,
// readiness included, never as a scattering of failed scripts.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_store_test_fixture.h"
#include "gtest/gtest.h"

namespace scep::redis::store_test {
namespace {

constexpr char kWhy[] = "a Redis Cluster node: the gateway needs one primary, cluster mode disabled";

class RedisClusterNodeTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    // One node serving every slot: a complete cluster of one.
    absl::StatusOr<std::unique_ptr<RedisTestServer>> server = RedisTestServer::Start(
        "", {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->Command({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}).ok());
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      absl::StatusOr<std::string> info = server_->Command({"CLUSTER", "INFO"});
      if (info.ok() && absl::StrContains(*info, "cluster_state:ok")) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "the one-node cluster did not come up";
  }

  std::unique_ptr<RedisTestServer> server_;
};

TEST_F(RedisClusterNodeTest, ReadinessSaysTheEndpointIsAClusterNode) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  const absl::Status ping = store->Ping();
  ASSERT_TRUE(absl::IsUnavailable(ping)) << ping;
  EXPECT_TRUE(absl::StrContains(ping.message(), "CROSSSLOT")) << ping;
  EXPECT_TRUE(absl::StrContains(ping.message(), kWhy)) << ping;
}

TEST_F(RedisClusterNodeTest, AScriptWithKeysInSeveralSlotsIsUnavailableWithTheReason) {
  absl::StatusOr<std::unique_ptr<RedisConnectionPool>> pool =
      RedisConnectionPool::New(OptionsFor(*server_));
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<RedisReplyPtr> reply = (*pool)->Run(
      "Claim", {"EVAL", "return 1", "2", "scep:default:nonce:aa", "scep:default:txn:bb"});
  ASSERT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(), "Redis Claim: CROSSSLOT"))
      << reply.status();
  EXPECT_TRUE(absl::StrContains(reply.status().message(), kWhy)) << reply.status();
  // Redis answered: no outage for the breaker; the next command goes out.
  absl::StatusOr<RedisReplyPtr> single = (*pool)->Run("Get", {"GET", "scep:default:txn:bb"});
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ((*single)->type, REDIS_REPLY_NIL);
}

}  // namespace
}  // namespace scep::redis::store_test
