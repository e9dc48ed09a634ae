#include "common/redis/memory_enrollment_store.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis/enrollment_store_contract_test.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration elapsed) {
    absl::MutexLock lock(&mu_);
    now_ += elapsed;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

class MemoryHarness : public StoreHarness {
 public:
  MemoryHarness()
      : store_(MemoryEnrollmentStore::New([this] { return clock_.Now(); })) {}
  EnrollmentStore& store() override { return *store_; }
  void Advance(absl::Duration elapsed) override { clock_.Advance(elapsed); }

 private:
  FakeClock clock_;
  std::unique_ptr<MemoryEnrollmentStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Memory, EnrollmentStoreContractTest,
                         testing::Values(StoreHarnessFactory{
                             "Memory",
                             [] { return std::make_unique<MemoryHarness>(); }}),
                         [](const auto& info) { return info.param.name; });

class MemoryEnrollmentStoreTest : public testing::Test {
 protected:
  FakeClock clock_;
  std::unique_ptr<MemoryEnrollmentStore> store_ =
      MemoryEnrollmentStore::New([this] { return clock_.Now(); });
};

TEST_F(MemoryEnrollmentStoreTest, TtlEndsExactlyAtDeadline) {
  ASSERT_EQ(store_->RecordNonce("p", "n", "msg", absl::Seconds(10)).value(), NonceUse::kFresh);
  clock_.Advance(absl::Seconds(10) - absl::Milliseconds(1));
  EXPECT_EQ(store_->RecordNonce("p", "n", "other msg", absl::Seconds(10)).value(),
            NonceUse::kReplay);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(store_->RecordNonce("p", "n", "msg", absl::Seconds(10)).value(), NonceUse::kFresh);
}

TEST_F(MemoryEnrollmentStoreTest, UnavailableHookFailsEveryCallAndKeepsState) {
  ASSERT_EQ(store_->RecordNonce("p", "n", "msg", absl::Minutes(1)).value(), NonceUse::kFresh);
  store_->SetUnavailable(true);
  constexpr auto kUnavailable = absl::StatusCode::kUnavailable;
  EXPECT_EQ(store_->Ping().code(), kUnavailable);
  EXPECT_EQ(store_->RecordNonce("p", "m", "msg", absl::Minutes(1)).status().code(),
            kUnavailable);
  EXPECT_EQ(store_->ForgetNonce("p", "n").code(), kUnavailable);
  EXPECT_EQ(store_->ClaimTransaction("p", "t", "fp", absl::Minutes(1))
                .status()
                .code(),
            kUnavailable);
  EXPECT_EQ(
      store_->CompleteTransaction("p", "t", "fp", "cert", absl::Minutes(1))
          .code(),
      kUnavailable);
  EXPECT_EQ(store_->ReleaseTransaction("p", "t", "fp").code(), kUnavailable);

  store_->SetUnavailable(false);
  EXPECT_TRUE(store_->Ping().ok());
  EXPECT_EQ(store_->RecordNonce("p", "n", "other msg", absl::Minutes(1)).value(),
            NonceUse::kReplay);
  EXPECT_EQ(store_->RecordNonce("p", "m", "msg", absl::Minutes(1)).value(), NonceUse::kFresh);
  EXPECT_EQ(store_->ClaimTransaction("p", "t", "fp", absl::Minutes(1))->state,
            Transaction::State::kClaimed);
}

TEST_F(MemoryEnrollmentStoreTest, ExpiredEntriesAreSweptWithoutLookups) {
  // Distinct nonces, each seen once: without the sweep all would stay.
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(store_->RecordNonce("p", absl::StrCat("nonce-", i), "msg", absl::Milliseconds(5))
                  .value(),
              NonceUse::kFresh);
    clock_.Advance(absl::Milliseconds(1));
  }
  EXPECT_LE(store_->entry_count(), 1024u + 5u);
  EXPECT_EQ(store_->RecordNonce("p", "nonce-4999", "other msg", absl::Milliseconds(5)).value(),
            NonceUse::kReplay);
  EXPECT_EQ(store_->RecordNonce("p", "nonce-0", "msg", absl::Milliseconds(5)).value(),
            NonceUse::kFresh);
}

TEST(MemoryEnrollmentStoreDefaultClockTest, UsesWallClockWhenNoneGiven) {
  std::unique_ptr<MemoryEnrollmentStore> store = MemoryEnrollmentStore::New();
  EXPECT_EQ(store->RecordNonce("p", "n", "msg", absl::Minutes(1)).value(), NonceUse::kFresh);
  EXPECT_EQ(store->RecordNonce("p", "n", "other msg", absl::Minutes(1)).value(),
            NonceUse::kReplay);
}

}  // namespace
}  // namespace scep::redis
