#ifndef SCEP_COMMON_REDIS_REDIS_POOL_TEST_UTIL_H_
#define SCEP_COMMON_REDIS_REDIS_POOL_TEST_UTIL_H_

// Test-only: what the connection pool's tests share (redis_connection_pool_test.cc,
// redis_sentinel_test.cc).

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis::pool_test {

inline constexpr char kPassword[] = "pool-Passw0rd-7f3a";
inline constexpr char kWrongPassword[] = "wrong-Passw0rd-91c2";
inline constexpr char kAclUser[] = "scep-gateway";
inline constexpr char kAclPassword[] = "acl-Passw0rd-5be8";
inline constexpr char kSentinelPassword[] = "sentinel-Passw0rd-2d61";

inline bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Every secret of these tests; none may appear in any Status message.
inline void ExpectNoSecret(const absl::Status& status) {
  for (const char* secret : {kPassword, kWrongPassword, kAclPassword, kSentinelPassword}) {
    EXPECT_FALSE(absl::StrContains(status.message(), secret))
        << "secret in: " << status.message();
  }
}

inline std::string Text(const RedisReplyPtr& reply) {
  return std::string(reply->str, reply->len);
}

// A numeric field of INFO `section` on `server` (each call is one
// connection more); -1 and a test failure when it has none.
inline int64_t InfoField(RedisTestServer& server, const std::string& section,
                         const std::string& field) {
  absl::StatusOr<std::string> info = server.Command({"INFO", section});
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

}  // namespace scep::redis::pool_test

#endif  // SCEP_COMMON_REDIS_REDIS_POOL_TEST_UTIL_H_
