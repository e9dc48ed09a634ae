// Approving and rejecting a request held for manual approval when calls
// overlap or fail half-way, and what ListRequests, Enroll and Approve tell
// a calling service about a request the profile refuses.

#include <atomic>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "common/codec/csr.h"
#include "common/redis/memory_enrollment_store.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core_test_fixture.h"

namespace scep::admin::testing {
namespace {

v1::RejectRequestRequest Reject(const std::string& tid) {
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id(tid);
  return reject;
}

size_t Queued(redis::MemoryNoticeOutbox& notices) {
  return static_cast<size_t>(notices.Stats().value().queued);
}

// An operator double-clicking, or a service retrying after its own
// timeout, while the first approval is still being signed: one certificate.
TEST_F(AdminCoreTest, ASecondApprovalWhileTheFirstIssuesIsUnavailable) {
  Queue("tid-d1", "dev-d1");
  std::optional<absl::Status> overlapping;
  signer_.before_issue = [&] {
    if (!overlapping.has_value()) {
      overlapping = core_->ApproveRequest(Approve("tid-d1"), "bob").status();
    }
  };
  const int before = signer_.issued.load();
  auto first = core_->ApproveRequest(Approve("tid-d1"), "alice");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(overlapping.has_value());
  EXPECT_EQ(overlapping->code(), absl::StatusCode::kUnavailable) << *overlapping;
  EXPECT_EQ(signer_.issued.load(), before + 1);
  EXPECT_EQ(StatusOf("tid-d1"), ApprovalRequest::Status::kIssued);
  // Once it is done, approving again answers with that certificate.
  auto again = core_->ApproveRequest(Approve("tid-d1"), "bob");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->serial_hex(), first->serial_hex());
  EXPECT_EQ(signer_.issued.load(), before + 1);
}

// A rejection while an approval is being signed waits for it: the
// certificate is not left valid for a request the device is told failed.
TEST_F(AdminCoreTest, ARejectionWhileAnApprovalIssuesIsUnavailable) {
  Queue("tid-d2", "dev-d2");
  std::optional<absl::Status> overlapping;
  signer_.before_issue = [&] {
    if (!overlapping.has_value()) {
      overlapping = core_->RejectRequest(Reject("tid-d2"), "carol").status();
    }
  };
  auto approved = core_->ApproveRequest(Approve("tid-d2"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  ASSERT_TRUE(overlapping.has_value());
  EXPECT_EQ(overlapping->code(), absl::StatusCode::kUnavailable) << *overlapping;
  EXPECT_EQ(StatusOf("tid-d2"), ApprovalRequest::Status::kIssued);
  EXPECT_FALSE(index_.Get(approved->serial_hex()).value()->revoked);
  // Afterwards: it was issued; revoke instead.
  absl::Status late = core_->RejectRequest(Reject("tid-d2"), "carol").status();
  EXPECT_EQ(late.code(), kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(late.message(), "revoke its certificate")) << late;
}

// An approval that completed the transaction (the device's next poll gets
// the certificate) but failed before marking the request ISSUED (Redis
// went away): a rejection then must not say REJECTED nor notify "failed".
TEST_F(AdminCoreTest, RejectingAnApprovalThatCompletedItsTransactionFinishesIt) {
  std::vector<Profile> profiles = TestProfiles();
  profiles[2].notice_failed = true;
  MakeCore(std::move(profiles));
  Queue("tid-d3", "dev-d3");
  auto approved = core_->ApproveRequest(Approve("tid-d3"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  // The state that failure leaves behind.
  ASSERT_TRUE(requests_
                  .Transition("approval", "tid-d3", ApprovalRequest::Status::kIssued,
                              ApprovalRequest::Status::kApproved, "alice", "")
                  .ok());
  const size_t notices_before = Queued(notices_);
  absl::Status rejected = core_->RejectRequest(Reject("tid-d3"), "carol").status();
  EXPECT_EQ(rejected.code(), kFailedPrecondition) << rejected;
  EXPECT_EQ(StatusOf("tid-d3"), ApprovalRequest::Status::kIssued);
  EXPECT_EQ(requests_.Get("approval", "tid-d3").value()->serial_hex, approved->serial_hex());
  EXPECT_EQ(Queued(notices_), notices_before);
  EXPECT_EQ(transactions_->GetTransaction("approval", "tid-d3").value()->state,
            Transaction::State::kIssued);
  // A plain rejection still notifies once.
  Queue("tid-d4", "dev-d4");
  ASSERT_TRUE(core_->RejectRequest(Reject("tid-d4"), "carol").ok());
  EXPECT_EQ(Queued(notices_), notices_before + 1);
  ASSERT_TRUE(core_->RejectRequest(Reject("tid-d4"), "carol").ok());
  EXPECT_EQ(Queued(notices_), notices_before + 1);
}

// Under a static shared challenge the CSR carries the fleet's secret: a
// calling service listing requests does not get it (as notices do not).
TEST_F(AdminCoreTest, ListRequestsLeavesOutCsrsCarryingASharedChallenge) {
  std::vector<Profile> shared = TestProfiles();
  shared[2].notice_csr = false;  // what loading a static-challenge profile sets
  MakeCore(std::move(shared));
  Queue("tid-d5", "dev-d5");
  v1::ListRequestsRequest list;
  list.set_profile("approval");
  auto page = core_->ListRequests(list, "op");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->requests_size(), 1);
  EXPECT_TRUE(page->requests(0).csr().empty());
  EXPECT_EQ(page->requests(0).subject(), "CN=dev-d5");
  std::vector<Profile> profiles = TestProfiles();
  profiles[2].challenge_mode = Profile::ChallengeMode::kOneTime;
  profiles[2].notice_csr = true;
  MakeCore(std::move(profiles));
  page = core_->ListRequests(list, "op");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->requests_size(), 1);
  EXPECT_EQ(page->requests(0).csr(), requests_.Get("approval", "tid-d5").value()->csr);
}

// Same key and subject, other SANs: another request, not a retry.
TEST_F(AdminCoreTest, EnrollRequestIdBindsTheWholeCsr) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  auto csr_with = [&](const std::string& san) {
    codec::CsrSpec spec;
    spec.common_name = "agent";
    spec.dns_sans = {san};
    return codec::BuildCsr(key.get(), spec).value();
  };
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_request_id("req-whole-csr");
  enroll.set_csr(csr_with("a.example"));
  ASSERT_TRUE(core_->Enroll(enroll, "ci").ok());
  enroll.set_csr(csr_with("b.example"));
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kAlreadyExists);
  // The same request again (an ECDSA signature differs each time): its
  // certificate.
  enroll.set_csr(csr_with("a.example"));
  auto again = core_->Enroll(enroll, "ci");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->repeated_request());
}

// The profile refusing a CSR is the request's fault, not a denied caller:
// INVALID_ARGUMENT from Enroll, FAILED_PRECONDITION from Approve (the
// stored request no longer fits the profile).
TEST_F(AdminCoreTest, ACsrOutsideTheProfileIsNotPermissionDenied) {
  std::vector<Profile> profiles = TestProfiles();
  profiles[0].key_types = {"rsa"};
  profiles[2].key_types = {"rsa"};
  MakeCore(std::move(profiles));
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("ec-agent"));  // an EC key
  absl::Status refused = core_->Enroll(enroll, "ci").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  enroll.set_request_id("req-outside");
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kInvalidArgument);
  Queue("tid-d6", "dev-d6");
  absl::Status approve = core_->ApproveRequest(Approve("tid-d6"), "alice").status();
  EXPECT_EQ(approve.code(), kFailedPrecondition) << approve;
}

// Approving a request issued before answers with its certificate or an
// error, never OK without one: the index's error is the caller's to see
// (before, Redis down gave OK with the serial only).
TEST_F(AdminCoreTest, ApprovingAnIssuedRequestNeverAnswersWithoutItsCertificate) {
  Queue("tid-i1", "dev-i1");
  auto first = core_->ApproveRequest(Approve("tid-i1"), "alice");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->certificate().empty());

  index_.get_error = absl::UnavailableError("redis down");
  EXPECT_EQ(core_->ApproveRequest(Approve("tid-i1"), "bob").status().code(),
            absl::StatusCode::kUnavailable);
  index_.get_error = absl::OkStatus();

  // The index lost it: the device's transaction still has it.
  index_.LoseEverything();
  auto from_transaction = core_->ApproveRequest(Approve("tid-i1"), "bob");
  ASSERT_TRUE(from_transaction.ok()) << from_transaction.status();
  EXPECT_EQ(from_transaction->serial_hex(), first->serial_hex());
  EXPECT_EQ(from_transaction->certificate(), first->certificate());

  // Neither has it: said so, with the serial to look for.
  std::unique_ptr<redis::MemoryEnrollmentStore> empty = redis::MemoryEnrollmentStore::New();
  MakeCore(TestProfiles(), empty.get());
  absl::Status lost = core_->ApproveRequest(Approve("tid-i1"), "bob").status();
  EXPECT_EQ(lost.code(), kFailedPrecondition) << lost;
  EXPECT_TRUE(absl::StrContains(lost.message(), first->serial_hex())) << lost;
}

// A call that ran past its decision claim (enroll_claim_ttl) must not
// release the claim a later call took since: a third call still waits for
// the second (before, every call held the claim as "decision", so the
// first call's release freed the second's).
TEST_F(AdminCoreTest, ACallPastItsClaimDoesNotReleaseTheNextCallsClaim) {
  std::atomic<int64_t> seconds{0};
  std::unique_ptr<redis::MemoryEnrollmentStore> clocked = redis::MemoryEnrollmentStore::New(
      [&] { return absl::FromUnixSeconds(1700000000 + seconds.load()); });
  MakeCore(TestProfiles(), clocked.get());
  ApprovalRequest r;
  r.profile = "approval";
  r.transaction_id = "tid-l1";
  r.csr = Csr("dev-l1");
  r.fingerprint = codec::ParseCsr(r.csr).value().fingerprint;
  r.subject = "CN=dev-l1";
  ASSERT_EQ(clocked->ClaimTransaction("approval", "tid-l1", r.fingerprint, absl::Hours(1))
                ->state,
            Transaction::State::kClaimed);
  ASSERT_TRUE(requests_.Create(r, absl::Hours(1)).ok());

  // A and B each stop in the signer until let go; no timing involved.
  std::promise<void> a_signing, b_signing, release_a, release_b;
  std::shared_future<void> a_go = release_a.get_future().share();
  std::shared_future<void> b_go = release_b.get_future().share();
  std::atomic<int> calls{0};
  signer_.before_issue = [&] {
    if (calls.fetch_add(1) == 0) {
      a_signing.set_value();
      a_go.wait();
    } else {
      b_signing.set_value();
      b_go.wait();
    }
  };
  absl::Status a_status, b_status;
  std::thread a([&] { a_status = core_->ApproveRequest(Approve("tid-l1"), "alice").status(); });
  a_signing.get_future().wait();
  seconds += absl::ToInt64Seconds(AdminOptions().enroll_claim_ttl) + 1;  // A's claim ends
  std::thread b([&] { b_status = core_->ApproveRequest(Approve("tid-l1"), "bob").status(); });
  b_signing.get_future().wait();
  release_a.set_value();
  a.join();  // A done, its claim released (it thought)
  EXPECT_TRUE(a_status.ok()) << a_status;
  // C: B still holds the claim.
  absl::Status c = core_->RejectRequest(Reject("tid-l1"), "carol").status();
  EXPECT_EQ(c.code(), absl::StatusCode::kUnavailable) << c;
  release_b.set_value();
  b.join();
  // B signed a second certificate nobody gets: refused and revoked.
  EXPECT_EQ(b_status.code(), absl::StatusCode::kAborted) << b_status;
  EXPECT_EQ(StatusOf("tid-l1"), ApprovalRequest::Status::kIssued);
}

}  // namespace
}  // namespace scep::admin::testing
