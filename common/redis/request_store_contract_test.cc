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
  EXPECT_EQ(challenges().Claim("p", "", "t", "f").status().code(), kInvalid);
  EXPECT_EQ(challenges().Claim("p", "c", "", "f").status().code(), kInvalid);
  EXPECT_EQ(challenges().Claim("p", "c", "t", "").status().code(), kInvalid);
  EXPECT_EQ(challenges().Claim("", "c", "t", "f").status().code(), kInvalid);
  EXPECT_EQ(challenges().Spend("p", "", "t", "f").code(), kInvalid);
  EXPECT_EQ(challenges().Spend("p", "c", "", "f").code(), kInvalid);
  EXPECT_EQ(challenges().Spend("p", "c", "t", "").code(), kInvalid);
}

// Before session 27 a challenge was consumed (GETDEL) by the first request
// presenting it, even one answered 503 a moment later; now it is claimed by
// that request's transaction, and only that transaction passes it again.
TEST_P(RequestStoreContractTest, ChallengeIsClaimedByOneTransactionOnly) {
  ASSERT_TRUE(challenges().Create("onetime", "chal-1", "CN=device-1", kLong).ok());
  ASSERT_TRUE(challenges().Create("onetime", "chal-2", "", kLong).ok());
  EXPECT_FALSE(challenges().Claim("other", "chal-1", "tid-1", "fp-1")->has_value());
  EXPECT_FALSE(challenges().Claim("onetime", "chal-x", "tid-1", "fp-1")->has_value());
  auto first = challenges().Claim("onetime", "chal-1", "tid-1", "fp-1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ(**first, "CN=device-1");
  // Another transaction, or another request in the same one, is refused.
  EXPECT_FALSE(challenges().Claim("onetime", "chal-1", "tid-2", "fp-2")->has_value());
  EXPECT_FALSE(challenges().Claim("onetime", "chal-1", "tid-1", "fp-2")->has_value());
  EXPECT_FALSE(challenges().Claim("onetime", "chal-1", "tid-2", "fp-1")->has_value());
  // The same transaction and request again (the device's retry) passes.
  auto again = challenges().Claim("onetime", "chal-1", "tid-1", "fp-1");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ(**again, "CN=device-1");
  auto unbound = challenges().Claim("onetime", "chal-2", "tid-2", "fp-2");
  ASSERT_TRUE(unbound->has_value());
  EXPECT_EQ(**unbound, "");
}

TEST_P(RequestStoreContractTest, OnlyTheHolderSpendsAChallengeAndThenNobodyHasIt) {
  ASSERT_TRUE(challenges().Create("p", "chal-s", "", kLong).ok());
  // Unclaimed: spending changes nothing.
  EXPECT_TRUE(challenges().Spend("p", "chal-s", "tid-1", "fp-1").ok());
  ASSERT_TRUE(challenges().Claim("p", "chal-s", "tid-1", "fp-1")->has_value());
  // Another transaction cannot end the holder's claim.
  EXPECT_TRUE(challenges().Spend("p", "chal-s", "tid-2", "fp-2").ok());
  EXPECT_TRUE(challenges().Claim("p", "chal-s", "tid-1", "fp-1")->has_value());
  EXPECT_TRUE(challenges().Spend("p", "chal-s", "tid-1", "fp-1").ok());
  EXPECT_FALSE(challenges().Claim("p", "chal-s", "tid-1", "fp-1")->has_value());
  EXPECT_FALSE(challenges().Claim("p", "chal-s", "tid-2", "fp-2")->has_value());
  // Spending what is gone is OK.
  EXPECT_TRUE(challenges().Spend("p", "chal-s", "tid-1", "fp-1").ok());
  EXPECT_TRUE(challenges().Spend("p", "never-minted", "tid-1", "fp-1").ok());
}

TEST_P(RequestStoreContractTest, ChallengeExpires) {
  ASSERT_TRUE(challenges().Create("p", "soon", "", kShort).ok());
  ASSERT_TRUE(challenges().Create("p", "claimed-soon", "", kShort).ok());
  ASSERT_TRUE(challenges().Claim("p", "claimed-soon", "tid-1", "fp-1")->has_value());
  Advance(kPastShort);
  EXPECT_FALSE(challenges().Claim("p", "soon", "tid-1", "fp-1")->has_value());
  // A claim ends with its challenge, for its holder too.
  EXPECT_FALSE(challenges().Claim("p", "claimed-soon", "tid-1", "fp-1")->has_value());
}

TEST_P(RequestStoreContractTest, ConcurrentClaimsHaveOneWinner) {
  for (int round = 0; round < 5; ++round) {
    const std::string challenge = absl::StrCat("race-", round);
    ASSERT_TRUE(challenges().Create("p", challenge, "s", kLong).ok());
    std::atomic<int> won{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        auto got = challenges().Claim("p", challenge, absl::StrCat("tid-", i), "fp");
        EXPECT_TRUE(got.ok()) << got.status();
        if (got.ok() && got->has_value()) won.fetch_add(1);
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
  }
}

// Identical copies of one request (a proxy's retry racing the original)
// all pass: they are one transaction.
TEST_P(RequestStoreContractTest, ConcurrentClaimsOfOneTransactionAllPass) {
  ASSERT_TRUE(challenges().Create("p", "twins", "s", kLong).ok());
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto got = challenges().Claim("p", "twins", "tid-twin", "fp-twin");
      EXPECT_TRUE(got.ok()) << got.status();
      if (got.ok() && got->has_value()) passed.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(passed.load(), 8);
}

}  // namespace
}  // namespace scep::redis
