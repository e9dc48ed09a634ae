#include "services/gateway/gateway_timings.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

GatewayTimings Defaults() {
  return {absl::Milliseconds(5000), absl::Milliseconds(1000), absl::Seconds(60),
          absl::Seconds(15), absl::Seconds(30)};
}

TEST(GatewayTimingsTest, DefaultsHold) { EXPECT_TRUE(CheckTimings(Defaults()).ok()); }

TEST(GatewayTimingsTest, ClaimMustOutliveTheIssuance) {
  GatewayTimings t = Defaults();
  t.pending_ttl = absl::Seconds(7);  // 5 s signer + 2 x 1 s Redis: not more
  absl::Status s = CheckTimings(t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "--pending_ttl_seconds")) << s;
  t.pending_ttl = absl::Seconds(8);
  EXPECT_TRUE(CheckTimings(t).ok());
  t.signer_deadline = absl::Seconds(10);
  EXPECT_FALSE(CheckTimings(t).ok());
}

TEST(GatewayTimingsTest, HttpTimeoutsAtLeastASecond) {
  GatewayTimings t = Defaults();
  t.http_read_timeout = absl::ZeroDuration();
  EXPECT_TRUE(absl::StrContains(CheckTimings(t).message(), "--http_read_timeout_seconds"));
  t = Defaults();
  t.http_idle_timeout = absl::Milliseconds(500);
  EXPECT_FALSE(CheckTimings(t).ok());
}

}  // namespace
}  // namespace scep::gateway
