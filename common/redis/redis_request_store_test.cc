#include "common/redis/redis_request_store.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/redis/redis_test_server.h"
#include "common/redis/request_keys.h"
#include "common/redis/request_store_contract_test.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

// CI images must have redis-server: there a missing binary is a failure.
bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

class RedisHarness : public RequestStoreHarness {
 public:
  static std::unique_ptr<RequestStoreHarness> Make() {
    if (!RedisTestServer::Installed()) {
      if (InCi()) ADD_FAILURE() << "redis-server missing and CI=true";
      return nullptr;
    }
    auto server = RedisTestServer::Start();
    if (!server.ok()) {
      ADD_FAILURE() << server.status();
      return nullptr;
    }
    RedisOptions options;
    options.port = (*server)->port();
    auto requests = RedisRequestStore::New(options);
    auto challenges = RedisChallengeStore::New(options);
    if (!requests.ok() || !challenges.ok()) {
      ADD_FAILURE() << requests.status() << challenges.status();
      return nullptr;
    }
    auto harness = std::make_unique<RedisHarness>();
    harness->server_ = *std::move(server);
    harness->requests_ = *std::move(requests);
    harness->challenges_ = *std::move(challenges);
    return harness;
  }

  RequestStore& requests() override { return *requests_; }
  ChallengeStore& challenges() override { return *challenges_; }
  void Advance(absl::Duration elapsed) override { absl::SleepFor(elapsed); }
  RedisTestServer& server() { return *server_; }

 private:
  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<RedisRequestStore> requests_;
  std::unique_ptr<RedisChallengeStore> challenges_;
};

INSTANTIATE_TEST_SUITE_P(Redis, RequestStoreContractTest,
                         testing::Values(RequestStoreHarnessFactory{
                             "Redis", &RedisHarness::Make}),
                         [](const auto& info) { return info.param.name; });

class RedisRequestStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    if (!RedisTestServer::Installed()) {
      if (InCi()) GTEST_FAIL() << "redis-server missing and CI=true";
      GTEST_SKIP() << "redis-server not installed";
    }
    std::unique_ptr<RequestStoreHarness> h = RedisHarness::Make();
    ASSERT_NE(h, nullptr);
    harness_.reset(static_cast<RedisHarness*>(h.release()));
  }
  std::string Run(const std::vector<std::string>& argv) {
    auto reply = harness_->server().Command(argv);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.value_or("");
  }

  std::unique_ptr<RedisHarness> harness_;
};

TEST_F(RedisRequestStoreTest, KeysAreNamespacedAndCarryTtls) {
  ApprovalRequest r;
  r.profile = "approval";
  r.transaction_id = "ab";
  r.csr = "csr";
  ASSERT_TRUE(harness_->requests().Create(r, absl::Seconds(60)).ok());
  EXPECT_EQ(Run({"HGET", "scep:approval:req:6162", "status"}), "REQUESTED");
  EXPECT_GT(std::stoll(Run({"PTTL", "scep:approval:req:6162"})), 55000);
  EXPECT_EQ(Run({"ZRANGE", "scep:approval:reqs", "0", "-1"}), "scep:approval:req:6162");
  EXPECT_EQ(Run({"ZRANGE", "scep:reqs", "0", "-1"}), "scep:approval:req:6162");
  EXPECT_GT(std::stoll(Run({"PTTL", "scep:reqs"})), 55000);

  const std::string challenge = "Plain-Challenge-Value";
  ASSERT_TRUE(harness_->challenges().Create("onetime", challenge, "CN=x",
                                            absl::Seconds(60)).ok());
  const std::string keys = Run({"KEYS", "scep:onetime:challenge:*"});
  EXPECT_EQ(keys.size(), std::string("scep:onetime:challenge:").size() + 64);
  EXPECT_FALSE(absl::StrContains(keys, challenge));
  EXPECT_GT(std::stoll(Run({"PTTL", keys})), 55000);

  // A claim: a key beside the challenge's, as long-lived, holding neither
  // the transactionID nor the fingerprint as such.
  ASSERT_TRUE(harness_->challenges().Claim("onetime", challenge, "tid-claim", "fp-claim")
                  ->has_value());
  const std::string claim = keys + ":claim";
  const std::string holder = Run({"GET", claim});
  EXPECT_EQ(holder.size(), 64u);
  EXPECT_FALSE(absl::StrContains(holder, "tid-claim"));
  EXPECT_GT(std::stoll(Run({"PTTL", claim})), std::stoll(Run({"PTTL", keys})));
  EXPECT_LE(std::stoll(Run({"PTTL", claim})), 61000);
  EXPECT_EQ(Run({"GET", keys}), "CN=x");
  ASSERT_TRUE(harness_->challenges().Spend("onetime", challenge, "tid-claim", "fp-claim").ok());
  EXPECT_EQ(Run({"EXISTS", keys, claim}), "0");
}

// Upgrades: a challenge minted before claims existed (the same key and
// value) is claimed as any other; a gateway of the old version, which
// consumes with GETDEL, still reads a claimed challenge during a rolling
// upgrade, and once it has consumed it nobody claims it again.
TEST_F(RedisRequestStoreTest, ChallengesWorkAcrossAnUpgrade) {
  const std::string key = ChallengeKey("onetime", "minted-before").value();
  Run({"SET", key, "CN=old", "PX", "60000"});
  auto claimed = harness_->challenges().Claim("onetime", "minted-before", "tid-1", "fp-1");
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->value_or("(none)"), "CN=old");
  EXPECT_EQ(Run({"GETDEL", key}), "CN=old");
  EXPECT_FALSE(harness_->challenges().Claim("onetime", "minted-before", "tid-1", "fp-1")
                   ->has_value());
  EXPECT_TRUE(harness_->challenges().Spend("onetime", "minted-before", "tid-1", "fp-1").ok());
  EXPECT_EQ(Run({"EXISTS", key + ":claim"}), "0");
}

TEST_F(RedisRequestStoreTest, ListDropsExpiredMembersFromTheIndex) {
  ApprovalRequest r;
  r.profile = "p";
  r.transaction_id = "gone";
  ASSERT_TRUE(harness_->requests().Create(r, absl::Milliseconds(50)).ok());
  r.transaction_id = "kept";
  ASSERT_TRUE(harness_->requests().Create(r, absl::Minutes(1)).ok());
  absl::SleepFor(absl::Milliseconds(120));
  auto page = harness_->requests().List("p", std::nullopt, "", 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->requests.size(), 1u);
  EXPECT_EQ(Run({"ZCARD", "scep:p:reqs"}), "1");
}

TEST_F(RedisRequestStoreTest, UnavailableWhileRedisIsDown) {
  harness_->server().Kill();
  ApprovalRequest r;
  r.profile = "p";
  r.transaction_id = "t";
  constexpr auto kUnavailable = absl::StatusCode::kUnavailable;
  EXPECT_EQ(harness_->requests().Create(r, absl::Minutes(1)).code(), kUnavailable);
  EXPECT_EQ(harness_->requests().Get("p", "t").status().code(), kUnavailable);
  EXPECT_EQ(harness_->requests().List("", std::nullopt, "", 5).status().code(),
            kUnavailable);
  EXPECT_EQ(harness_->challenges().Claim("p", "c", "t", "f").status().code(), kUnavailable);
  EXPECT_EQ(harness_->challenges().Spend("p", "c", "t", "f").code(), kUnavailable);
  ASSERT_TRUE(harness_->server().Restart().ok());
  // The pool fails fast for failure_cooldown after the failures above.
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_TRUE(harness_->requests().Create(r, absl::Minutes(1)).ok());
}

}  // namespace
}  // namespace scep::redis
