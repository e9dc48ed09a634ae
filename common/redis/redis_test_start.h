// Test support: a redis-server of a test's own, or a skip where none is
// installed (a failure under CI=true, whose images must have it).

#ifndef SCEP_COMMON_REDIS_REDIS_TEST_START_H_
#define SCEP_COMMON_REDIS_REDIS_TEST_START_H_

#include <cstdlib>
#include <memory>
#include <string>

#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {

inline bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Starts a redis-server of its own into `server`; skips the test when none
// is installed, fails it under CI=true. Callers return when `server` is
// still null.
inline void StartRedis(std::unique_ptr<RedisTestServer>* server) {
  if (!RedisTestServer::Installed()) {
    if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
    GTEST_SKIP() << "redis-server not installed";
  }
  auto started = RedisTestServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  *server = *std::move(started);
}

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_TEST_START_H_
