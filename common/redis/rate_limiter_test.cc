#include "common/redis/rate_limiter.h"

#include <cstdlib>

#include "common/redis/redis_test_server.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The same contract for the fake (param false) and redis-server (true).
class RateLimiterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!GetParam()) {
      limiter_ = NewMemoryRateLimiter([this] { return now_; });
      return;
    }
    if (!RedisTestServer::Installed()) {
      if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    server_ = RedisTestServer::Start().value();
    RedisOptions options;
    options.port = server_->port();
    limiter_ = NewRedisRateLimiter(options).value();
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RateLimiter> limiter_;
};

TEST_P(RateLimiterTest, CountsEveryLimitAndRefusesPastTheFirst) {
  std::vector<RateLimit> limits = {{"p:client:1", 3, absl::Minutes(1)},
                                   {"p:profile", 5, absl::Minutes(1)}};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter_->Check(limits).value().allowed);
  RateDecision refused = limiter_->Check(limits).value();
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.exceeded, "p:client:1");
  EXPECT_GT(refused.retry_after, absl::ZeroDuration());
  EXPECT_LE(refused.retry_after, absl::Minutes(1));
  // Another client shares the profile limit (5): one more passes, then not.
  std::vector<RateLimit> other = {{"p:client:2", 3, absl::Minutes(1)},
                                  {"p:profile", 5, absl::Minutes(1)}};
  EXPECT_TRUE(limiter_->Check(other).value().allowed);
  RateDecision profile_full = limiter_->Check(other).value();
  EXPECT_FALSE(profile_full.allowed);
  EXPECT_EQ(profile_full.exceeded, "p:profile");
  EXPECT_TRUE(limiter_->Check({}).value().allowed);
}

TEST_P(RateLimiterTest, WindowEnds) {
  std::vector<RateLimit> limits = {{"w:client", 1, absl::Milliseconds(300)}};
  EXPECT_TRUE(limiter_->Check(limits).value().allowed);
  EXPECT_FALSE(limiter_->Check(limits).value().allowed);
  if (GetParam()) {
    absl::SleepFor(absl::Milliseconds(400));
  } else {
    now_ += absl::Milliseconds(400);
  }
  EXPECT_TRUE(limiter_->Check(limits).value().allowed);
}

// A refund gives back what one request counted: that request never went
// through (answered 503). It never takes a counter below zero, nor touches
// a window that has ended.
TEST_P(RateLimiterTest, RefundTakesBackOneCountedEvent) {
  const RateLimit limit = {"r:subject:ab", 1, absl::Milliseconds(300)};
  EXPECT_TRUE(limiter_->Check({limit}).value().allowed);
  EXPECT_TRUE(limiter_->Refund(limit).ok());
  EXPECT_TRUE(limiter_->Check({limit}).value().allowed);
  EXPECT_FALSE(limiter_->Check({limit}).value().allowed);
  // Two events counted (one refused): one refund leaves the limit reached.
  EXPECT_TRUE(limiter_->Refund(limit).ok());
  EXPECT_FALSE(limiter_->Check({limit}).value().allowed);
  // Refunds beyond what was counted do not make room.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter_->Refund(limit).ok());
  EXPECT_TRUE(limiter_->Check({limit}).value().allowed);
  EXPECT_FALSE(limiter_->Check({limit}).value().allowed);
  // Nothing counted yet, or the window over: nothing to take back.
  const RateLimit fresh = {"r:subject:cd", 1, absl::Minutes(1)};
  EXPECT_TRUE(limiter_->Refund(fresh).ok());
  EXPECT_TRUE(limiter_->Check({fresh}).value().allowed);
  EXPECT_FALSE(limiter_->Check({fresh}).value().allowed);
  if (GetParam()) {
    absl::SleepFor(absl::Milliseconds(400));
  } else {
    now_ += absl::Milliseconds(400);
  }
  EXPECT_TRUE(limiter_->Refund(limit).ok());
  EXPECT_TRUE(limiter_->Check({limit}).value().allowed);
  EXPECT_FALSE(limiter_->Check({limit}).value().allowed);
}

// redis-server only.
class RedisRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    server = RedisTestServer::Start().value();
    RedisOptions options;
    options.port = server->port();
    limiter = NewRedisRateLimiter(options).value();
  }

  std::unique_ptr<RedisTestServer> server;
  std::unique_ptr<RateLimiter> limiter;
};

TEST_F(RedisRateLimiterTest, RedisDownIsUnavailable) {
  server->Kill();
  EXPECT_EQ(limiter->Check({{"k", 1, absl::Minutes(1)}}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(limiter->Refund({"k", 1, absl::Minutes(1)}).code(),
            absl::StatusCode::kUnavailable);
}

// Check runs on every enrollment: sent by digest (EVALSHA), not with the
// script body each time, and still right after Redis lost its scripts.
TEST_F(RedisRateLimiterTest, RunsByDigestAndSurvivesAScriptFlush) {
  auto calls = [&](const std::string& command) {
    std::string stats = server->Command({"INFO", "commandstats"}).value_or("");
    const std::string tag = "cmdstat_" + command + ":calls=";
    size_t at = stats.find(tag);
    return at == std::string::npos ? 0 : std::atoi(stats.c_str() + at + tag.size());
  };
  const RateLimit limit{"p:client:9", 3, absl::Minutes(1)};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter->Check({limit}).value().allowed) << i;
  EXPECT_EQ(calls("eval"), 1);  // the first loads the script
  EXPECT_EQ(calls("evalsha"), 3);
  ASSERT_EQ(server->Command({"SCRIPT", "FLUSH"}).value_or(""), "OK");
  EXPECT_FALSE(limiter->Check({limit}).value().allowed);  // the fourth
  ASSERT_TRUE(limiter->Refund(limit).ok());
  EXPECT_EQ(calls("eval"), 3);  // each script loaded again once
  EXPECT_EQ(calls("evalsha"), 5);
  EXPECT_EQ(server->Command({"GET", "scep:rl:p:client:9"}).value_or(""), "3");
}

INSTANTIATE_TEST_SUITE_P(Limiters, RateLimiterTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Redis" : "Memory"; });

}  // namespace
}  // namespace scep::redis
