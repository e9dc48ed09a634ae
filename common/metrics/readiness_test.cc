#include "common/metrics/readiness.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace scep::metrics {
namespace {

TEST(ReadinessTest, NotReadyBeforeFirstRun) {
  Readiness readiness;
  readiness.AddCheck("redis", [] { return absl::OkStatus(); });
  EXPECT_FALSE(readiness.Get().ready);
  readiness.RunChecks();
  EXPECT_TRUE(readiness.Get().ready);
  EXPECT_EQ(readiness.Get().text, "ready\n");
}

TEST(ReadinessTest, NamesEveryFailingCheck) {
  Readiness readiness;
  std::atomic<bool> redis_up{false};
  readiness.AddCheck("redis", [&] {
    return redis_up ? absl::OkStatus() : absl::UnavailableError("ping failed");
  });
  readiness.AddCheck("signer", [] { return absl::UnavailableError("down"); });
  readiness.AddCheck("token", [] { return absl::OkStatus(); });
  readiness.RunChecks();
  Readiness::State state = readiness.Get();
  EXPECT_FALSE(state.ready);
  EXPECT_EQ(state.text, "redis: ping failed\nsigner: down\n");
  redis_up = true;
  readiness.RunChecks();
  EXPECT_EQ(readiness.Get().text, "signer: down\n");
}

// A dependency every replica shares (Redis, the signer) failing leaves the
// process ready locally: a probe of /readyz?local keeps it in rotation.
TEST(ReadinessTest, DependencyChecksLeaveItReadyLocally) {
  Readiness readiness;
  std::atomic<bool> loaded{true};
  readiness.AddCheck("ca_certificates", [&] {
    return loaded ? absl::OkStatus() : absl::UnavailableError("not loaded");
  });
  readiness.AddDependencyCheck("redis", [] { return absl::UnavailableError("ping failed"); });
  readiness.RunChecks();
  Readiness::State state = readiness.Get();
  EXPECT_FALSE(state.ready);
  EXPECT_TRUE(state.ready_locally);
  EXPECT_EQ(state.text, "redis: ping failed\n");
  loaded = false;
  readiness.RunChecks();
  EXPECT_FALSE(readiness.Get().ready_locally);
  loaded = true;
  readiness.RunChecks();
  readiness.SetDraining();
  EXPECT_FALSE(readiness.Get().ready_locally);
}

TEST(ReadinessTest, DrainingWinsAndListenerSeesChanges) {
  Readiness readiness;
  std::vector<bool> seen;
  readiness.OnChange([&](bool ready) { seen.push_back(ready); });
  readiness.AddCheck("ok", [] { return absl::OkStatus(); });
  readiness.RunChecks();
  readiness.RunChecks();  // unchanged: no call
  readiness.SetDraining();
  readiness.RunChecks();
  EXPECT_FALSE(readiness.Get().ready);
  EXPECT_EQ(readiness.Get().text, "draining: shutting down\n");
  EXPECT_EQ(seen, (std::vector<bool>{true, false}));
}

TEST(ReadinessTest, BackgroundThreadRunsChecks) {
  Readiness readiness;
  std::atomic<int> runs{0};
  readiness.AddCheck("count", [&] {
    ++runs;
    return absl::OkStatus();
  });
  readiness.Start(absl::Milliseconds(5));
  for (int i = 0; i < 400 && runs < 3; ++i) absl::SleepFor(absl::Milliseconds(5));
  readiness.Stop();
  EXPECT_GE(runs.load(), 3);
  EXPECT_TRUE(readiness.Get().ready);
}

}  // namespace
}  // namespace scep::metrics
