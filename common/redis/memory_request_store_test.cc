#include "common/redis/memory_request_store.h"

#include <memory>

#include "absl/synchronization/mutex.h"
#include "common/redis/request_store_contract_test.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

class MemoryHarness : public RequestStoreHarness {
 public:
  RequestStore& requests() override { return requests_; }
  ChallengeStore& challenges() override { return challenges_; }
  void Advance(absl::Duration elapsed) override { clock_.Advance(elapsed); }

 private:
  FakeClock clock_;
  MemoryRequestStore requests_{[this] { return clock_.Now(); }};
  MemoryChallengeStore challenges_{[this] { return clock_.Now(); }};
};

INSTANTIATE_TEST_SUITE_P(Memory, RequestStoreContractTest,
                         testing::Values(RequestStoreHarnessFactory{
                             "Memory", [] { return std::make_unique<MemoryHarness>(); }}),
                         [](const auto& info) { return info.param.name; });

TEST(MemoryRequestStoreTest, UnavailableHookFailsEveryCallAndKeepsState) {
  MemoryRequestStore requests;
  MemoryChallengeStore challenges;
  ApprovalRequest r;
  r.profile = "p";
  r.transaction_id = "t";
  ASSERT_TRUE(requests.Create(r, absl::Minutes(1)).ok());
  ASSERT_TRUE(challenges.Create("p", "c", "", absl::Minutes(1)).ok());
  requests.SetUnavailable(true);
  challenges.SetUnavailable(true);
  constexpr auto kUnavailable = absl::StatusCode::kUnavailable;
  EXPECT_EQ(requests.Create(r, absl::Minutes(1)).code(), kUnavailable);
  EXPECT_EQ(requests.Get("p", "t").status().code(), kUnavailable);
  EXPECT_EQ(requests.Transition("p", "t", ApprovalRequest::Status::kRequested,
                                ApprovalRequest::Status::kApproved, "a", "")
                .code(),
            kUnavailable);
  EXPECT_EQ(requests.List("", std::nullopt, "", 10).status().code(), kUnavailable);
  EXPECT_EQ(challenges.Claim("p", "c", "t", "f").status().code(), kUnavailable);
  EXPECT_EQ(challenges.Spend("p", "c", "t", "f").code(), kUnavailable);
  EXPECT_EQ(challenges.Create("p", "d", "", absl::Minutes(1)).code(), kUnavailable);
  requests.SetUnavailable(false);
  challenges.SetUnavailable(false);
  EXPECT_TRUE(requests.Get("p", "t")->has_value());
  EXPECT_TRUE(challenges.Claim("p", "c", "t", "f")->has_value());
}

}  // namespace
}  // namespace scep::redis
