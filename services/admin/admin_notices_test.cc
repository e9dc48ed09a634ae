// Issuance notices through the admin API: an operator's approval decision
// queues its notice, and notices a receiver refused are listed and queued
// again (admin_notices.cc).

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core.h"
#include "services/admin/admin_core_test_fixture.h"

namespace scep::admin::testing {
namespace {

// The test profiles with "approval" sending every notice.
std::vector<Profile> ApprovalNotifies() {
  std::vector<Profile> profiles = TestProfiles();
  profiles[2].notice_url = "http://mdm.example/notices";
  profiles[2].notice_issued = profiles[2].notice_failed = true;
  return profiles;
}

// Issuance notices (profile notify.url): an operator's decision is the
// outcome, so approving queues the issued notice and rejecting the failed
// one, each once; a profile without notify queues none.
TEST_F(AdminCoreTest, ApprovalDecisionsQueueOneNoticeEach) {
  Queue("tid-quiet", "dev-quiet");
  ASSERT_TRUE(core_->ApproveRequest(Approve("tid-quiet"), "alice").ok());
  EXPECT_TRUE(notices_.Take("w", 10, absl::Seconds(30))->empty());

  MakeCore(ApprovalNotifies());
  Queue("tid-n1", "dev-n1");
  Queue("tid-n2", "dev-n2");
  auto approved = core_->ApproveRequest(Approve("tid-n1"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  ASSERT_TRUE(core_->ApproveRequest(Approve("tid-n1"), "bob").ok());  // the same again
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id("tid-n2");
  reject.set_reason("unknown device");
  ASSERT_TRUE(core_->RejectRequest(reject, "carol").ok());
  ASSERT_TRUE(core_->RejectRequest(reject, "carol").ok());

  auto taken = notices_.Take("w", 10, absl::Seconds(30));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 2u);
  const redis::Notice& issued = (*taken)[0].notice;
  EXPECT_EQ(issued.event, redis::Notice::Event::kIssued);
  EXPECT_EQ(issued.profile, "approval");
  EXPECT_EQ(issued.transaction_id, "tid-n1");
  EXPECT_EQ(issued.certificate, approved->certificate());
  EXPECT_EQ(issued.csr, requests_.Get("approval", "tid-n1").value()->csr);
  const redis::Notice& failed = (*taken)[1].notice;
  EXPECT_EQ(failed.event, redis::Notice::Event::kFailed);
  EXPECT_EQ(failed.transaction_id, "tid-n2");
  EXPECT_EQ(failed.fail_info, "badRequest");
  EXPECT_TRUE(failed.certificate.empty());
  // The operator's reason is for the audit trail, not the receiver.
  EXPECT_FALSE(absl::StrContains(failed.fail_info_text, "unknown device"));
}

// A receiver refused an approval's notice; the operator lists it and,
// the receiver fixed, queues it again.
TEST_F(AdminCoreTest, GivenUpNoticesAreListedAndQueuedAgain) {
  MakeCore(ApprovalNotifies());
  Queue("tid-g1", "dev-g1");
  Queue("tid-g2", "dev-g2");
  auto approved = core_->ApproveRequest(Approve("tid-g1"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id("tid-g2");
  ASSERT_TRUE(core_->RejectRequest(reject, "carol").ok());
  auto taken = notices_.Take("w", 10, absl::Seconds(30));
  ASSERT_EQ(taken->size(), 2u);
  for (const redis::QueuedNotice& q : *taken) {
    ASSERT_TRUE(notices_.GiveUp(q, "refused", "receiver answered HTTP 400").ok());
  }

  v1::ListGivenUpNoticesRequest list;
  list.set_profile("approval");
  auto listed = core_->ListGivenUpNotices(list, "op");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->notices_size(), 2);
  const v1::GivenUpNotice& failed = listed->notices(0);  // newest first
  EXPECT_EQ(failed.event(), "failed");
  EXPECT_EQ(failed.transaction_id(), "tid-g2");
  EXPECT_EQ(failed.fail_info(), "badRequest");
  EXPECT_EQ(failed.result(), "refused");
  EXPECT_EQ(failed.reason(), "receiver answered HTTP 400");
  const v1::GivenUpNotice& issued = listed->notices(1);
  EXPECT_EQ(issued.event(), "issued");
  EXPECT_EQ(issued.serial_hex(), approved->serial_hex());
  EXPECT_GT(issued.given_up_unix(), 0);
  list.set_profile("onetime");
  EXPECT_EQ(core_->ListGivenUpNotices(list, "op")->notices_size(), 0);
  list.set_profile("onetme");  // mistyped: not "none given up"
  EXPECT_EQ(core_->ListGivenUpNotices(list, "op").status().code(),
            absl::StatusCode::kNotFound);
  list.set_profile("onetime");
  list.set_limit(100000);
  EXPECT_EQ(core_->ListGivenUpNotices(list, "op").status().code(),
            absl::StatusCode::kInvalidArgument);

  // By id: that one only; by profile: the rest.
  v1::RequeueNoticesRequest requeue;
  requeue.add_ids(issued.id());
  auto one = core_->RequeueNotices(requeue, "op");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->requeued(), 1);
  EXPECT_EQ(one->not_requeued(), 0);
  requeue.Clear();
  requeue.set_profile("approval");
  auto rest = core_->RequeueNotices(requeue, "bob");
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->requeued(), 1);
  auto again = notices_.Take("w", 10, absl::Seconds(30));
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].notice.transaction_id, "tid-g1");
  EXPECT_EQ((*again)[1].notice.transaction_id, "tid-g2");
  EXPECT_EQ(notices_.GivenUp("", 10)->size(), 0u);
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), "\"action\":\"requeue_notices\""))
      << audit_text_.str();

  // Profiles that cannot take them, and a request naming nothing.
  requeue.set_profile("onetime");
  EXPECT_EQ(core_->RequeueNotices(requeue, "op").status().code(),
            absl::StatusCode::kFailedPrecondition);
  requeue.set_profile("nope");
  EXPECT_EQ(core_->RequeueNotices(requeue, "op").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core_->RequeueNotices(v1::RequeueNoticesRequest(), "op").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::admin::testing
