#include "services/signer/caller_rate_limit.h"

#include "gtest/gtest.h"

namespace scep::signer {
namespace {

TEST(CallerRateLimitTest, EachCallerHasItsOwnBucketRefilledPerMinute) {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  CallerRateLimit limit(3, [&] { return now; });
  bool log = false;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.Allow("gateway-a", &log)) << i;
  EXPECT_FALSE(limit.Allow("gateway-a", &log));
  EXPECT_TRUE(log);  // the first refusal is logged
  EXPECT_FALSE(limit.Allow("gateway-a", &log));
  EXPECT_FALSE(log);  // the next ones in that minute are not
  EXPECT_TRUE(limit.Allow("gateway-b", &log));  // another caller
  now += absl::Seconds(20);  // a third of a minute: one token back
  EXPECT_TRUE(limit.Allow("gateway-a", &log));
  EXPECT_FALSE(limit.Allow("gateway-a", &log));
  now += absl::Hours(1);  // never more than a minute's worth
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.Allow("gateway-a", &log)) << i;
  EXPECT_FALSE(limit.Allow("gateway-a", &log));
  EXPECT_TRUE(log);
}

TEST(CallerRateLimitTest, AddressesShareABucketAcrossPorts) {
  EXPECT_EQ(CallerKey("ipv4:10.0.0.7:43122"), "ipv4:10.0.0.7");
  EXPECT_EQ(CallerKey("ipv6:[fd00::7]:43122"), "ipv6:[fd00::7]");
  EXPECT_EQ(CallerKey("gateway-0.scep.svc"), "gateway-0.scep.svc");
  EXPECT_EQ(CallerKey("ipv4:"), "ipv4:");
}

}  // namespace
}  // namespace scep::signer
