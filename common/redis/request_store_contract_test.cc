#include "common/redis/request_store_contract_test.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace scep::redis {

void RequestStoreContractTest::SetUp() {
  harness_ = GetParam().make();
  if (harness_ != nullptr) return;
  if (HasFailure()) GTEST_FAIL() << "store could not be set up";
  GTEST_SKIP() << "store not available here";
}

namespace {

using Status = ApprovalRequest::Status;
constexpr absl::Duration kLong = absl::Minutes(5);
constexpr absl::Duration kShort = absl::Milliseconds(300);
constexpr absl::Duration kPastShort = absl::Milliseconds(450);
constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

ApprovalRequest Request(absl::string_view profile, absl::string_view tid) {
  ApprovalRequest r;
  r.profile = std::string(profile);
  r.transaction_id = std::string(tid);
  r.subject = absl::StrCat("CN=", tid);
  r.csr = std::string("\x30\x82\0\x01" "csr\0", 9);
  r.fingerprint = std::string("fp\0\xff", 4);
  return r;
}

std::vector<std::string> Tids(const RequestPage& page) {
  std::vector<std::string> out;
  for (const ApprovalRequest& r : page.requests) out.push_back(r.transaction_id);
  return out;
}

TEST_P(RequestStoreContractTest, CreateThenGetRoundTripsBinaryFields) {
  const std::string tid("\x01\x00tid", 5);
  ApprovalRequest in = Request("approval", tid);
  in.status = Status::kIssued;  // ignored: a new request is REQUESTED
  in.serial_hex = "ff";
  ASSERT_TRUE(requests().Create(in, kLong).ok());
  auto got = requests().Get("approval", tid);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  const ApprovalRequest& r = **got;
  EXPECT_EQ(r.profile, "approval");
  EXPECT_EQ(r.transaction_id, tid);
  EXPECT_EQ(r.subject, in.subject);
  EXPECT_EQ(r.csr, in.csr);
  EXPECT_EQ(r.fingerprint, in.fingerprint);
  EXPECT_EQ(r.status, Status::kRequested);
  EXPECT_EQ(r.serial_hex, "");
  EXPECT_NE(r.created, absl::InfinitePast());
  EXPECT_EQ(r.created, r.updated);
  // Scoped per profile; a long transactionID is hashed, still exact.
  EXPECT_FALSE(requests().Get("other", tid)->has_value());
  const std::string long_tid(200, 't');
  ASSERT_TRUE(requests().Create(Request("approval", long_tid), kLong).ok());
  EXPECT_EQ((*requests().Get("approval", long_tid))->transaction_id, long_tid);
  EXPECT_FALSE(requests().Get("approval", std::string(199, 't'))->has_value());
}

TEST_P(RequestStoreContractTest, SecondCreateForTheTransactionIsAlreadyExists) {
  ASSERT_TRUE(requests().Create(Request("p", "t1"), kLong).ok());
  ASSERT_TRUE(requests().Transition("p", "t1", Status::kRequested, Status::kRejected,
                                    "op", "").ok());
  EXPECT_EQ(requests().Create(Request("p", "t1"), kLong).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ((*requests().Get("p", "t1"))->status, Status::kRejected);
  EXPECT_TRUE(requests().Create(Request("q", "t1"), kLong).ok());
}

TEST_P(RequestStoreContractTest, TransitionIsCompareAndSet) {
  ASSERT_TRUE(requests().Create(Request("p", "t"), kLong).ok());
  Advance(absl::Milliseconds(5));
  ASSERT_TRUE(requests().Transition("p", "t", Status::kRequested, Status::kApproved,
                                    "alice", "").ok());
  auto r = requests().Get("p", "t");
  EXPECT_EQ((*r)->status, Status::kApproved);
  EXPECT_EQ((*r)->actor, "alice");
  EXPECT_GT((*r)->updated, (*r)->created);
  // Approving twice, or rejecting an approved request, is refused.
  EXPECT_EQ(requests().Transition("p", "t", Status::kRequested, Status::kApproved,
                                  "bob", "").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(requests().Transition("p", "t", Status::kRequested, Status::kRejected,
                                  "bob", "").code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(requests().Transition("p", "t", Status::kApproved, Status::kIssued,
                                    "alice", "0a1b").ok());
  r = requests().Get("p", "t");
  EXPECT_EQ((*r)->status, Status::kIssued);
  EXPECT_EQ((*r)->serial_hex, "0a1b");
  EXPECT_EQ(requests().Transition("p", "unknown", Status::kRequested,
                                  Status::kApproved, "a", "").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(RequestStoreContractTest, ConcurrentTransitionsHaveOneWinner) {
  ASSERT_TRUE(requests().Create(Request("p", "race"), kLong).ok());
  std::atomic<int> won{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      absl::Status s = requests().Transition(
          "p", "race", Status::kRequested,
          i % 2 == 0 ? Status::kApproved : Status::kRejected, absl::StrCat("op", i), "");
      if (s.ok()) won.fetch_add(1);
      else EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
}

TEST_P(RequestStoreContractTest, ListsOldestFirstByProfileAndStatusInPages) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(requests().Create(Request("a", absl::StrCat("a", i)), kLong).ok());
    Advance(absl::Milliseconds(3));
    if (i < 2) {
      ASSERT_TRUE(requests().Create(Request("b", absl::StrCat("b", i)), kLong).ok());
      Advance(absl::Milliseconds(3));
    }
  }
  ASSERT_TRUE(requests().Transition("a", "a1", Status::kRequested, Status::kRejected,
                                    "op", "").ok());
  std::vector<std::string> all;
  std::string token;
  int pages = 0;
  do {
    auto page = requests().List("a", std::nullopt, token, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const std::string& t : Tids(*page)) all.push_back(t);
    token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_EQ(all, (std::vector<std::string>{"a0", "a1", "a2", "a3", "a4"}));
  EXPECT_EQ(pages, 3);

  auto everything = requests().List("", std::nullopt, "", 100);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(Tids(*everything),
            (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "a3", "a4"}));
  EXPECT_TRUE(everything->next_page_token.empty());

  auto requested = requests().List("a", Status::kRequested, "", 100);
  ASSERT_TRUE(requested.ok());
  EXPECT_EQ(Tids(*requested), (std::vector<std::string>{"a0", "a2", "a3", "a4"}));
  auto rejected = requests().List("", Status::kRejected, "", 100);
  ASSERT_TRUE(rejected.ok());
  EXPECT_EQ(Tids(*rejected), (std::vector<std::string>{"a1"}));
  EXPECT_TRUE(requests().List("nobody", std::nullopt, "", 10)->requests.empty());
}

TEST_P(RequestStoreContractTest, RequestsExpireFromGetAndList) {
  ASSERT_TRUE(requests().Create(Request("p", "short"), kShort).ok());
  ASSERT_TRUE(requests().Create(Request("p", "long"), kLong).ok());
  Advance(kPastShort);
  EXPECT_FALSE(requests().Get("p", "short")->has_value());
  EXPECT_EQ(requests().Transition("p", "short", Status::kRequested,
                                  Status::kApproved, "a", "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Tids(*requests().List("p", std::nullopt, "", 10)),
            std::vector<std::string>{"long"});
  // Expired: the transaction may be requested afresh.
  EXPECT_TRUE(requests().Create(Request("p", "short"), kLong).ok());
}

TEST_P(RequestStoreContractTest, RefusesBadArguments) {
  EXPECT_EQ(requests().Create(Request("", "t"), kLong).code(), kInvalid);
  EXPECT_EQ(requests().Create(Request("a b", "t"), kLong).code(), kInvalid);
  EXPECT_EQ(requests().Create(Request("p", ""), kLong).code(), kInvalid);
  EXPECT_EQ(requests().Create(Request("p", "t"), absl::ZeroDuration()).code(), kInvalid);
  EXPECT_EQ(requests().Get("p:q", "t").status().code(), kInvalid);
  EXPECT_EQ(requests().List("p", std::nullopt, "", 0).status().code(), kInvalid);
  EXPECT_EQ(requests().List("p", std::nullopt, "", 1001).status().code(), kInvalid);
  EXPECT_EQ(requests().List("p", std::nullopt, "no-colon", 10).status().code(), kInvalid);
  EXPECT_EQ(requests().List("p", std::nullopt, "x:y", 10).status().code(), kInvalid);
  EXPECT_EQ(challenges().Create("p", "", "", kLong).code(), kInvalid);
  EXPECT_EQ(challenges().Create("", "c", "", kLong).code(), kInvalid);
  EXPECT_EQ(challenges().Consume("p", "").status().code(), kInvalid);
}

TEST_P(RequestStoreContractTest, ChallengeIsConsumedExactlyOnce) {
  ASSERT_TRUE(challenges().Create("onetime", "chal-1", "CN=device-1", kLong).ok());
  ASSERT_TRUE(challenges().Create("onetime", "chal-2", "", kLong).ok());
  EXPECT_FALSE(challenges().Consume("other", "chal-1")->has_value());
  EXPECT_FALSE(challenges().Consume("onetime", "chal-x")->has_value());
  auto first = challenges().Consume("onetime", "chal-1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, "CN=device-1");
  EXPECT_FALSE(challenges().Consume("onetime", "chal-1")->has_value());
  auto unbound = challenges().Consume("onetime", "chal-2");
  ASSERT_TRUE(unbound->has_value());
  EXPECT_EQ(**unbound, "");
}

TEST_P(RequestStoreContractTest, ChallengeExpires) {
  ASSERT_TRUE(challenges().Create("p", "soon", "", kShort).ok());
  Advance(kPastShort);
  EXPECT_FALSE(challenges().Consume("p", "soon")->has_value());
}

TEST_P(RequestStoreContractTest, ConcurrentConsumersHaveOneWinner) {
  for (int round = 0; round < 5; ++round) {
    const std::string challenge = absl::StrCat("race-", round);
    ASSERT_TRUE(challenges().Create("p", challenge, "s", kLong).ok());
    std::atomic<int> won{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&] {
        auto got = challenges().Consume("p", challenge);
        EXPECT_TRUE(got.ok()) << got.status();
        if (got.ok() && got->has_value()) won.fetch_add(1);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
  }
}

}  // namespace
}  // namespace scep::redis
