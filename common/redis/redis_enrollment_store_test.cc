#include "common/redis/redis_enrollment_store.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/enrollment_store_contract_test.h"
#include "common/redis/redis_store_test_fixture.h"
#include "gtest/gtest.h"

// Outages, timeouts and the write journal: redis_store_outage_test.cc.

namespace scep::redis {
namespace {

using State = Transaction::State;
using store_test::AwaitCooldown;
using store_test::InCi;
using store_test::NewStore;
using store_test::OptionsFor;
using store_test::RedisEnrollmentStoreTest;
constexpr absl::StatusCode kUnavailable = absl::StatusCode::kUnavailable;

class RedisHarness : public StoreHarness {
 public:
  static std::unique_ptr<StoreHarness> Make() {
    if (!RedisTestServer::Installed()) {
      if (InCi()) ADD_FAILURE() << "redis-server missing and CI=true";
      return nullptr;
    }
    absl::StatusOr<std::unique_ptr<RedisTestServer>> server =
        RedisTestServer::Start();
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return nullptr;
    }
    std::unique_ptr<RedisEnrollmentStore> store =
        NewStore(OptionsFor(**server));
    if (store == nullptr) return nullptr;
    return std::unique_ptr<StoreHarness>(
        new RedisHarness(std::move(server).value(), std::move(store)));
  }

  EnrollmentStore& store() override { return *store_; }
  void Advance(absl::Duration elapsed) override { absl::SleepFor(elapsed); }

 private:
  RedisHarness(std::unique_ptr<RedisTestServer> server,
               std::unique_ptr<RedisEnrollmentStore> store)
      : server_(std::move(server)), store_(std::move(store)) {}

  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisEnrollmentStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Redis, EnrollmentStoreContractTest,
                         testing::Values(StoreHarnessFactory{
                             "Redis", &RedisHarness::Make}),
                         [](const auto& info) { return info.param.name; });

TEST_F(RedisEnrollmentStoreTest, ConcurrentClaimsHaveExactlyOneWinner) {
  constexpr int kThreads = 16;
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 10; ++round) {
    const std::string tid = absl::StrCat("txn-", round);
    std::vector<absl::StatusOr<Transaction>> results(kThreads);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        results[i] = store->ClaimTransaction("p", tid, absl::StrCat("fp-", i),
                                             absl::Minutes(1));
      });
    }
    go = true;
    for (std::thread& t : threads) t.join();

    int claimed = 0;
    std::string winner;
    for (const absl::StatusOr<Transaction>& r : results) {
      ASSERT_TRUE(r.ok()) << r.status();
      if (r->state == State::kClaimed) {
        ++claimed;
        winner = r->fingerprint;
      }
    }
    ASSERT_EQ(claimed, 1) << "round " << round;
    for (const absl::StatusOr<Transaction>& r : results) {
      if (r->state != State::kClaimed) {
        EXPECT_EQ(r->state, State::kPending);
        EXPECT_EQ(r->fingerprint, winner);
      }
    }
  }
}

TEST_F(RedisEnrollmentStoreTest, BinaryCertificateWithNulBytesSurvives) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  std::string der;
  for (int i = 0; i < 4096; ++i) der.push_back(static_cast<char>(i % 256));
  const std::string fingerprint("\0fp\0", 4);
  ASSERT_EQ(
      store->ClaimTransaction("p", "t", fingerprint, absl::Minutes(1))->state,
      State::kClaimed);
  ASSERT_TRUE(
      store->CompleteTransaction("p", "t", fingerprint, der, absl::Minutes(1))
          .ok());
  absl::StatusOr<Transaction> issued =
      store->ClaimTransaction("p", "t", "other", absl::Minutes(1));
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->state, State::kIssued);
  EXPECT_EQ(issued->fingerprint, fingerprint);
  EXPECT_EQ(issued->certificate, der);
}

TEST_F(RedisEnrollmentStoreTest, KeysAreNamespacedBoundedAndCarryTtls) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  const std::string nonce(
      "\x00\x11\x22\x33\x44\x55\x66\x77"
      "\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
      16);
  ASSERT_EQ(store->RecordNonce("dev", nonce, "msg", absl::Seconds(30)).value(),
            NonceUse::kFresh);
  const std::string nonce_key =
      "scep:dev:nonce:00112233445566778899aabbccddeeff";
  EXPECT_EQ(Run({"EXISTS", nonce_key}), "1");
  const int64_t nonce_pttl = std::stoll(Run({"PTTL", nonce_key}));
  EXPECT_GT(nonce_pttl, 25000);
  EXPECT_LE(nonce_pttl, 30000);

  ASSERT_TRUE(
      store->ClaimTransaction("dev", "ab", "fp", absl::Seconds(60)).ok());
  EXPECT_EQ(Run({"HGET", "scep:dev:txn:6162", "state"}), "pending");
  EXPECT_GT(std::stoll(Run({"PTTL", "scep:dev:txn:6162"})), 55000);

  const std::string huge_tid(100000, 'x');
  ASSERT_TRUE(
      store->ClaimTransaction("dev", huge_tid, "fp", absl::Seconds(60)).ok());
  std::vector<std::string> keys =
      absl::StrSplit(Run({"KEYS", "scep:dev:txn:sha256-*"}), '\n');
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].size(), std::string("scep:dev:txn:sha256-").size() + 64);
}

TEST_F(RedisEnrollmentStoreTest, FlushedScriptCacheFallsBackToEval) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->ClaimTransaction("p", "t", "fp", absl::Minutes(1))->state,
            State::kClaimed);
  ASSERT_EQ(Run({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(store->ClaimTransaction("p", "t", "fp", absl::Minutes(1))->state,
            State::kPending);
  ASSERT_EQ(Run({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_TRUE(
      store->CompleteTransaction("p", "t", "fp", "cert", absl::Minutes(1))
          .ok());
  ASSERT_EQ(Run({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(store->ReleaseTransaction("p", "t", "fp").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RedisEnrollmentStoreTest, IndexedCompletionKeepsOnlyTheSerial) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  const std::string der(1000, '\x30');
  // The certificate index entry (as RedisCertificateIndex::Put writes it).
  ASSERT_EQ(Run({"HSET", "scep:cert:0a1b", "der", der}), "1");
  ASSERT_EQ(store->ClaimTransaction("p", "t", "fp", absl::Minutes(1))->state,
            State::kClaimed);
  ASSERT_TRUE(store->CompleteIndexedTransaction("p", "t", "fp", der, "0a1b",
                                                absl::Minutes(1)).ok());
  const std::string key = "scep:p:txn:74";
  EXPECT_EQ(Run({"HGET", key, "serial"}), "0a1b");
  EXPECT_EQ(Run({"HEXISTS", key, "cert"}), "0");
  // Read back through the index, by every reader.
  absl::StatusOr<Transaction> claimed =
      store->ClaimTransaction("p", "t", "fp", absl::Minutes(1));
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->state, State::kIssued);
  EXPECT_EQ(claimed->certificate, der);
  EXPECT_EQ(store->GetTransaction("p", "t").value()->certificate, der);
  // Completing again: same certificate OK, another one a conflict.
  EXPECT_TRUE(store->CompleteIndexedTransaction("p", "t", "fp", der, "0a1b",
                                                absl::Minutes(1)).ok());
  EXPECT_TRUE(store->CompleteTransaction("p", "t", "fp", der, absl::Minutes(1)).ok());
  EXPECT_EQ(store->CompleteTransaction("p", "t", "fp", "other", absl::Minutes(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  // Reopened by the certificate the index holds for it, pending under a
  // claim token of its own.
  absl::StatusOr<bool> reopened =
      store->ReopenIssuedTransaction("p", "t", "fp", "other", absl::Minutes(1));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_FALSE(*reopened);
  reopened = store->ReopenIssuedTransaction("p", "t", "fp", der, absl::Minutes(1));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE(*reopened);
  EXPECT_EQ(Run({"HGET", key, "state"}), "pending");
  EXPECT_EQ(Run({"HEXISTS", key, "serial"}), "0");
  EXPECT_EQ(Run({"HEXISTS", key, "claim"}), "1");
  ASSERT_TRUE(store->CompleteIndexedTransaction("p", "t", "fp", der, "0a1b",
                                                absl::Minutes(1)).ok());
  // The index entry gone first: issued, certificate no longer available.
  ASSERT_EQ(Run({"DEL", "scep:cert:0a1b"}), "1");
  claimed = store->ClaimTransaction("p", "t", "fp", absl::Minutes(1));
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->state, State::kIssued);
  EXPECT_EQ(claimed->certificate, "");
  EXPECT_EQ(store->GetTransaction("p", "t").value()->certificate, "");
}

TEST_F(RedisEnrollmentStoreTest, IndexedCompletionStoresTheCertificateTheIndexLacks) {
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(OptionsFor(*server_));
  ASSERT_NE(store, nullptr);
  // No index entry (its Put still in a journal), or one with other bytes:
  // the transaction keeps the certificate itself.
  ASSERT_EQ(Run({"HSET", "scep:cert:0c", "der", "not this one"}), "1");
  for (const char* serial : {"0b", "0c"}) {
    const std::string tid = std::string("t-") + serial;
    ASSERT_EQ(store->ClaimTransaction("p", tid, "fp", absl::Minutes(1))->state,
              State::kClaimed);
    ASSERT_TRUE(store->CompleteIndexedTransaction("p", tid, "fp", "cert-der", serial,
                                                  absl::Minutes(1)).ok());
    EXPECT_EQ(store->GetTransaction("p", tid).value()->certificate, "cert-der");
  }
  // The serial becomes part of a key: anything but hex is refused.
  ASSERT_EQ(store->ClaimTransaction("p", "t-bad", "fp", absl::Minutes(1))->state,
            State::kClaimed);
  EXPECT_EQ(store->CompleteIndexedTransaction("p", "t-bad", "fp", "cert-der", "0b:*",
                                              absl::Minutes(1)).code(),
            absl::StatusCode::kInvalidArgument);
}


TEST_F(RedisEnrollmentStoreTest, SelectsConfiguredDatabase) {
  RedisOptions options = OptionsFor(*server_);
  options.db = 3;
  std::unique_ptr<RedisEnrollmentStore> store = NewStore(options);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->RecordNonce("p", "n", "msg", absl::Minutes(1)).value(), NonceUse::kFresh);
  EXPECT_EQ(Run({"DBSIZE"}), "0");
  EXPECT_TRUE(absl::StrContains(Run({"INFO", "keyspace"}), "db3:keys=1"));
}

TEST_F(RedisEnrollmentStoreTest, RefusesUnusableOptions) {
  const auto refused = [](RedisOptions options) {
    return RedisEnrollmentStore::New(std::move(options)).status().code() ==
           absl::StatusCode::kFailedPrecondition;
  };
  RedisOptions options;
  options.host = "";
  EXPECT_TRUE(refused(options));
  options = RedisOptions();
  options.port = 0;
  EXPECT_TRUE(refused(options));
  options = RedisOptions();
  options.db = -1;
  EXPECT_TRUE(refused(options));
  options = RedisOptions();
  options.pool_size = 0;
  EXPECT_TRUE(refused(options));
  options = RedisOptions();
  options.command_timeout = absl::ZeroDuration();
  EXPECT_TRUE(refused(options));
}

class RedisAuthTest : public RedisEnrollmentStoreTest {
 protected:
  static constexpr char kPassword[] = "s3cret-Passw0rd";
  void SetUp() override { StartServer(kPassword); }
};

TEST_F(RedisAuthTest, AuthenticatesAndNeverEchoesThePassword) {
  RedisOptions options = OptionsFor(*server_);
  options.password = kPassword;
  std::unique_ptr<RedisEnrollmentStore> good = NewStore(options);
  ASSERT_NE(good, nullptr);
  EXPECT_TRUE(good->Ping().ok());

  options.password = "wrong-Passw0rd";
  std::unique_ptr<RedisEnrollmentStore> wrong = NewStore(options);
  ASSERT_NE(wrong, nullptr);
  absl::Status refused = wrong->Ping();
  EXPECT_EQ(refused.code(), kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.message(), "AUTH")) << refused;
  EXPECT_FALSE(absl::StrContains(refused.message(), "wrong-Passw0rd"));
  EXPECT_FALSE(absl::StrContains(refused.message(), kPassword));

  options.password.clear();
  std::unique_ptr<RedisEnrollmentStore> none = NewStore(options);
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->Ping().code(), kUnavailable);
}

}  // namespace
}  // namespace scep::redis
