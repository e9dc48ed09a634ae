// The Redis enrollment store when Redis goes away, freezes, or answers a
// write too late: Unavailable while down, recovery without a restart, and
// the write journal that applies what missed Redis once it is back.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/redis_enrollment_store.h"
#include "common/redis/redis_store_test_fixture.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

using State = Transaction::State;
using store_test::AwaitCooldown;
using store_test::InCi;
using store_test::NewStore;
using store_test::OptionsFor;
using store_test::RedisEnrollmentStoreTest;
constexpr absl::StatusCode kUnavailable = absl::StatusCode::kUnavailable;

TEST_F(RedisEnrollmentStoreTest, UnavailableWhileDownThenRecoversByItself) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  // Open several pooled connections, so stale ones exist after the kill.
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i) {
    warm.emplace_back([&store] { EXPECT_TRUE(store->Ping().ok()); });
  }
  for (std::thread& t : warm) t.join();

  server_->Kill();
  // Default timeouts: 500ms connect + 1s command bound each call.
  const absl::Duration bound = absl::Milliseconds(1500);
  const absl::Time start = absl::Now();
  absl::Status ping = store->Ping();
  EXPECT_EQ(ping.code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(ping.message(), "Redis Ping")) << ping;
  absl::StatusOr<NonceUse> nonce = store->RecordNonce("p", "n", "msg", absl::Minutes(1));
  EXPECT_EQ(nonce.status().code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(nonce.status().message(), "RecordNonce"));
  EXPECT_EQ(store->ForgetNonce("p", "n").code(), kUnavailable);
  EXPECT_EQ(
      store->ClaimTransaction("p", "t", "fp", absl::Minutes(1)).status().code(),
      kUnavailable);
  EXPECT_EQ(
      store->CompleteTransaction("p", "t", "fp", "c", absl::Minutes(1)).code(),
      kUnavailable);
  EXPECT_EQ(store->ReleaseTransaction("p", "t", "fp").code(), kUnavailable);
  EXPECT_LT(absl::Now() - start, bound);

  ASSERT_TRUE(server_->Restart().ok());
  AwaitCooldown();
  EXPECT_TRUE(store->Ping().ok());
  EXPECT_EQ(store->RecordNonce("p", "n", "msg", absl::Minutes(1)).value(), NonceUse::kFresh);
  // The completion that missed Redis was kept and applied once it was back
  // (RedisWriteJournal): a retransmission gets that certificate, not a
  // fresh claim and a second certificate.
  absl::StatusOr<Transaction> txn =
      store->ClaimTransaction("p", "t", "fp", absl::Minutes(1));
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_EQ(txn->state, State::kIssued);
  EXPECT_EQ(txn->certificate, "c");
  EXPECT_EQ(store->ClaimTransaction("p", "t2", "fp", absl::Minutes(1))->state,
            State::kClaimed);
}

// Redis dies between the claim and the completion of an enrollment whose
// certificate the gateway then hands out: the completion and the undo of
// the request's nonce reach Redis before anything else once it is back.
TEST_F(RedisEnrollmentStoreTest, WritesThatMissedRedisAreAppliedFirstWhenItIsBack) {
  RedisOptions options = OptionsFor(*server_);
  options.command_timeout = absl::Milliseconds(200);
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->RecordNonce("p", "n1", "msg", absl::Hours(1)).value(), NonceUse::kFresh);
  ASSERT_EQ(store->ClaimTransaction("p", "t1", "fp", absl::Minutes(1))->state,
            State::kClaimed);
  ASSERT_EQ(store->RecordNonce("p", "n2", "msg", absl::Hours(1)).value(), NonceUse::kFresh);
  // Stopped rather than killed: Redis keeps its state (as a restart with
  // AOF would), while the store's next writes fail.
  server_->Freeze();
  EXPECT_EQ(store->CompleteTransaction("p", "t1", "fp", "cert-1", absl::Hours(1)).code(),
            kUnavailable);
  EXPECT_EQ(store->ForgetNonce("p", "n2").code(), kUnavailable);
  // Until they are applied, nothing else runs (no read overtakes them).
  EXPECT_EQ(store->GetTransaction("p", "t1").status().code(), kUnavailable);
  server_->Thaw();
  AwaitCooldown();

  absl::StatusOr<std::optional<Transaction>> got = store->GetTransaction("p", "t1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->state, State::kIssued);
  EXPECT_EQ((*got)->certificate, "cert-1");
  EXPECT_EQ(store->RecordNonce("p", "n2", "msg", absl::Hours(1)).value(),
            NonceUse::kFresh);  // forgotten
  EXPECT_EQ(store->RecordNonce("p", "n1", "other msg", absl::Hours(1)).value(),
            NonceUse::kReplay);  // still seen
}

// Redis full (maxmemory under noeviction): a write is refused with OOM,
// which is Unavailable (a 503 for the device), while reads go on. A script
// that has written already may finish (Redis keeps scripts atomic), so the
// completion, whose first write is a DEL, still lands.
TEST_F(RedisEnrollmentStoreTest, RedisFullRefusesNewStateAsUnavailable) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->ClaimTransaction("p", "t1", "fp", absl::Minutes(1))->state,
            State::kClaimed);
  ASSERT_TRUE(server_->Command({"CONFIG", "SET", "maxmemory", "1"}).ok());
  absl::StatusOr<NonceUse> refused = store->RecordNonce("p", "n1", "msg", absl::Hours(1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "OOM")) << refused.status();
  EXPECT_TRUE(store->CompleteTransaction("p", "t1", "fp", "cert-1", absl::Hours(1)).ok());
  absl::StatusOr<std::optional<Transaction>> got = store->GetTransaction("p", "t1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->state, State::kIssued);

  ASSERT_TRUE(server_->Command({"CONFIG", "SET", "maxmemory", "0"}).ok());
  EXPECT_EQ(store->RecordNonce("p", "n1", "msg", absl::Hours(1)).value(), NonceUse::kFresh);
}

// The nonce-and-claim script may run on a frozen server after the gateway
// gave up (and answered 503): neither the nonce nor the claim outlives it.
TEST_F(RedisEnrollmentStoreTest, NonceAndClaimThatMissedTheAnswerAreUndone) {
  RedisOptions options = OptionsFor(*server_);
  options.command_timeout = absl::Milliseconds(200);
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(options);
  ASSERT_NE(store, nullptr);
  // Caches the script, so that the frozen server runs the EVALSHA it
  // reads once thawed.
  ASSERT_TRUE(store->RecordNonceAndClaim("p", "n0", "msg", absl::Hours(1), "t0", "fp",
                                         absl::Minutes(1))
                  .ok());
  server_->Freeze();
  absl::StatusOr<std::optional<Transaction>> lost = store->RecordNonceAndClaim(
      "p", "n3", "msg", absl::Hours(1), "t3", "fp", absl::Minutes(1));
  EXPECT_EQ(lost.status().code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(lost.status().message(), "RecordNonceAndClaim"))
      << lost.status();
  server_->Thaw();
  AwaitCooldown();
  EXPECT_EQ(store->RecordNonce("p", "n3", "msg", absl::Hours(1)).value(), NonceUse::kFresh);
  absl::StatusOr<Transaction> again =
      store->ClaimTransaction("p", "t3", "fp-retry", absl::Minutes(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->state, State::kClaimed);
  EXPECT_EQ(again->fingerprint, "fp-retry");
}

TEST_F(RedisEnrollmentStoreTest, StartsBeforeRedisAndConnectsLater) {
  server_->Kill();
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Ping().code(), kUnavailable);
  ASSERT_TRUE(server_->Restart().ok());
  AwaitCooldown();
  EXPECT_TRUE(store->Ping().ok());
}

TEST_F(RedisEnrollmentStoreTest, FrozenServerTimesOutAndRecovers) {
  RedisOptions options = OptionsFor(*server_);
  options.command_timeout = absl::Milliseconds(200);
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Ping().ok());

  server_->Freeze();
  const absl::Time start = absl::Now();
  EXPECT_EQ(store->RecordNonce("p", "n", "msg", absl::Minutes(1)).status().code(),
            kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // Meanwhile the pool does not try again: it fails at once, saying so
  // and why it stopped trying.
  absl::Status fast = store->Ping();
  EXPECT_EQ(fast.code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(fast.message(), "not tried")) << fast;
  EXPECT_TRUE(absl::StrContains(fast.message(), "Resource temporarily unavailable")) << fast;
  server_->Thaw();
  AwaitCooldown();

  // The timed-out connection was dropped, so no stale reply is misread.
  EXPECT_TRUE(store->Ping().ok());
  absl::StatusOr<NonceUse> again = store->RecordNonce("p", "n2", "msg", absl::Minutes(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, NonceUse::kFresh);
}

TEST_F(RedisEnrollmentStoreTest, PoolOfOneServesManyThreads) {
  RedisOptions options = OptionsFor(*server_);
  options.pool_size = 1;
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(options);
  ASSERT_NE(store, nullptr);
  std::atomic<int> first_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<NonceUse> seen =
            store->RecordNonce("p", absl::StrCat(t, "-", i), "msg", absl::Minutes(1));
        EXPECT_TRUE(seen.ok()) << seen.status();
        if (seen.ok() && *seen == NonceUse::kFresh) first_seen.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(first_seen.load(), 400);
  EXPECT_EQ(Run({"DBSIZE"}), "400");
}

}  // namespace
}  // namespace scep::redis
