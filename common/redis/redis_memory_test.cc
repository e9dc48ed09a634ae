#include "common/redis/redis_memory.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

constexpr char kInfo[] =
    "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"
    "maxmemory:4194304\r\nmaxmemory_human:4.00M\r\nmaxmemory_policy:volatile-lru\r\n"
    "\r\n# Stats\r\ntotal_connections_received:9\r\nevicted_keys:17\r\n";

TEST(RedisMemoryTest, ParsesTheFieldsOfBothSections) {
  absl::StatusOr<RedisMemory> memory = ParseRedisMemory(kInfo);
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_EQ(memory->used_bytes, 1048576);
  EXPECT_EQ(memory->max_bytes, 4194304);
  EXPECT_EQ(memory->policy, "volatile-lru");
  EXPECT_EQ(memory->evicted_keys, 17);
  EXPECT_TRUE(memory->CanEvict());
  EXPECT_DOUBLE_EQ(memory->UsedRatio(), 0.25);
}

TEST(RedisMemoryTest, EvictionNeedsALimitAndAnEvictingPolicy) {
  RedisMemory memory;
  memory.policy = "allkeys-lru";
  EXPECT_FALSE(memory.CanEvict());  // no maxmemory: nothing is evicted
  EXPECT_DOUBLE_EQ(memory.UsedRatio(), 0.0);
  memory.max_bytes = 100;
  EXPECT_TRUE(memory.CanEvict());
  memory.policy = "noeviction";
  EXPECT_FALSE(memory.CanEvict());
}

TEST(RedisMemoryTest, MissingOrMalformedFieldsAreNamed) {
  absl::StatusOr<RedisMemory> missing = ParseRedisMemory("used_memory:1\r\nmaxmemory:0\r\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "evicted_keys"));
  absl::StatusOr<RedisMemory> malformed = ParseRedisMemory(
      "used_memory:x\r\nmaxmemory:0\r\nevicted_keys:0\r\nmaxmemory_policy:noeviction\r\n");
  ASSERT_FALSE(malformed.ok());
  EXPECT_TRUE(absl::StrContains(malformed.status().message(), "used_memory"));
}

TEST(RedisMemoryTest, ReadsARealServerAsItsSettingsChange) {
  if (!RedisTestServer::Installed()) {
    if (InCi()) FAIL() << "redis-server missing and CI=true";
    GTEST_SKIP() << "redis-server not installed";
  }
  absl::StatusOr<std::unique_ptr<RedisTestServer>> server = RedisTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  RedisOptions options;
  options.port = (*server)->port();
  options.pool_size = 1;
  std::unique_ptr<RedisConnectionPool> pool = RedisConnectionPool::New(options).value();

  absl::StatusOr<RedisMemory> defaults = ReadRedisMemory(*pool);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_GT(defaults->used_bytes, 0);
  EXPECT_EQ(defaults->max_bytes, 0);
  EXPECT_EQ(defaults->policy, "noeviction");
  EXPECT_FALSE(defaults->CanEvict());

  ASSERT_TRUE((*server)->Command({"CONFIG", "SET", "maxmemory", "64mb"}).ok());
  ASSERT_TRUE((*server)->Command({"CONFIG", "SET", "maxmemory-policy", "volatile-lru"}).ok());
  absl::StatusOr<RedisMemory> managed = ReadRedisMemory(*pool);
  ASSERT_TRUE(managed.ok()) << managed.status();
  EXPECT_EQ(managed->max_bytes, 64 << 20);
  EXPECT_EQ(managed->policy, "volatile-lru");
  EXPECT_TRUE(managed->CanEvict());
  EXPECT_EQ(managed->evicted_keys, 0);

  (*server)->Kill();
  EXPECT_EQ(ReadRedisMemory(*pool).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace scep::redis
