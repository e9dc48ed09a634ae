// Test support for the Redis enrollment store's tests: a redis-server per
// test (RedisTestServer) and stores pointed at it. Unit tests only.

#ifndef SCEP_COMMON_REDIS_REDIS_STORE_TEST_FIXTURE_H_
#define SCEP_COMMON_REDIS_REDIS_STORE_TEST_FIXTURE_H_

#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/redis_enrollment_store.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis::store_test {

// CI images must have redis-server: there a missing binary is a failure.
inline bool InCi() {
  const char* ci = getenv("CI");
  return ci != nullptr && absl::string_view(ci) == "true";
}

inline RedisOptions OptionsFor(const RedisTestServer& server) {
  RedisOptions options;
  options.port = server.port();
  options.failure_cooldown = absl::Milliseconds(100);
  return options;
}

// After a failure the pool fails fast for failure_cooldown (circuit
// breaker) before it tries Redis again.
inline void AwaitCooldown() { absl::SleepFor(absl::Milliseconds(150)); }

inline std::unique_ptr<RedisEnrollmentStore> NewStore(RedisOptions options) {
  absl::StatusOr<std::unique_ptr<RedisEnrollmentStore>> store =
      RedisEnrollmentStore::New(std::move(options));
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(store).value() : nullptr;
}

class RedisEnrollmentStoreTest : public testing::Test {
 protected:
  void SetUp() override { StartServer(""); }

  void StartServer(const std::string& password) {
    if (!RedisTestServer::Installed()) {
      if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    absl::StatusOr<std::unique_ptr<RedisTestServer>> server =
        RedisTestServer::Start(password);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  std::string Run(const std::vector<std::string>& argv) {
    absl::StatusOr<std::string> reply = server_->Command(argv);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.value_or("");
  }

  std::unique_ptr<RedisTestServer> server_;
};

}  // namespace scep::redis::store_test

#endif  // SCEP_COMMON_REDIS_REDIS_STORE_TEST_FIXTURE_H_
