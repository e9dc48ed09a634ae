// The notice queue on a real redis-server: delivery to one worker at a
// time, hand-over of a dead worker's notices after retry_after, the bound,
// recovery after FLUSHALL, and the completion script queuing the issued
// notice exactly once.

#include "common/redis/notice_outbox.h"

#include "absl/time/clock.h"
#include "common/redis/redis_enrollment_store.h"
#include "common/redis/redis_store_test_fixture.h"

namespace scep::redis::store_test {
namespace {

Notice Failed(const std::string& tid) {
  Notice n;
  n.event = Notice::Event::kFailed;
  n.profile = "wifi";
  n.transaction_id = tid;
  n.message_type = "PKCSReq";
  n.csr = std::string("\x30\x82\x00binary", 9);
  n.fail_info = "badRequest";
  n.fail_info_text = "challenge password wrong";
  n.time = absl::FromUnixMillis(1700000000123);
  return n;
}

class RedisNoticeOutboxTest : public RedisEnrollmentStoreTest {
 protected:
  std::unique_ptr<RedisNoticeOutbox> NewOutbox(size_t max_queued = 100) {
    auto outbox = RedisNoticeOutbox::New(OptionsFor(*server_), max_queued);
    EXPECT_TRUE(outbox.ok()) << outbox.status();
    return outbox.ok() ? *std::move(outbox) : nullptr;
  }
};

TEST_F(RedisNoticeOutboxTest, ANoticeGoesToOneWorkerAndLeavesWhenDone) {
  auto outbox = NewOutbox();
  ASSERT_TRUE(outbox->Add(Failed("t1")).ok());
  auto a = outbox->Take("a", 10, absl::Hours(1));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 1u);
  const Notice& n = (*a)[0].notice;
  EXPECT_EQ(n.transaction_id, "t1");
  EXPECT_EQ(n.csr, std::string("\x30\x82\x00binary", 9));  // binary-safe
  EXPECT_EQ(n.fail_info_text, "challenge password wrong");
  EXPECT_EQ(n.time, absl::FromUnixMillis(1700000000123));
  EXPECT_LE(absl::AbsDuration(absl::Now() - (*a)[0].queued), absl::Seconds(5));
  // Taken by a, not yet done: b gets nothing before retry_after.
  EXPECT_TRUE(outbox->Take("b", 10, absl::Hours(1))->empty());
  OutboxStats stats = outbox->Stats().value();
  EXPECT_EQ(stats.queued, 1);
  EXPECT_EQ(stats.pending, 1);
  ASSERT_TRUE(outbox->Done((*a)[0].id).ok());
  stats = outbox->Stats().value();
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.pending, 0);
}

TEST_F(RedisNoticeOutboxTest, ADeadWorkersNoticeIsTakenOverAfterRetryAfter) {
  auto outbox = NewOutbox();
  ASSERT_TRUE(outbox->Add(Failed("t1")).ok());
  ASSERT_EQ(outbox->Take("dead", 10, absl::Milliseconds(100))->size(), 1u);
  absl::SleepFor(absl::Milliseconds(150));
  auto other = NewOutbox();  // another gateway
  auto taken = other->Take("alive", 10, absl::Milliseconds(100));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].notice.transaction_id, "t1");
  ASSERT_TRUE(other->Done((*taken)[0].id).ok());
  absl::SleepFor(absl::Milliseconds(150));
  EXPECT_TRUE(outbox->Take("dead", 10, absl::Milliseconds(100))->empty());
}

// Every gateway pod start is a new worker name; without this Redis kept
// each one for ever. One still holding a notice is kept (forgetting it
// would drop the notice from the group's pending list).
TEST_F(RedisNoticeOutboxTest, IdleWorkersHoldingNothingAreForgotten) {
  auto outbox = NewOutbox();
  EXPECT_EQ(outbox->ForgetIdleWorkers("self", absl::Milliseconds(1)).value(), 0u);  // no group
  ASSERT_TRUE(outbox->Add(Failed("t1")).ok());
  ASSERT_TRUE(outbox->Add(Failed("t2")).ok());
  ASSERT_TRUE(outbox->Add(Failed("t3")).ok());
  for (const char* idle_worker : {"pod-gone", "self"}) {
    auto taken = outbox->Take(idle_worker, 1, absl::Hours(1));
    ASSERT_EQ(taken->size(), 1u);
    ASSERT_TRUE(outbox->Done((*taken)[0].id).ok());
  }
  ASSERT_EQ(outbox->Take("pod-holding", 1, absl::Hours(1))->size(), 1u);
  auto consumers = [&] { return Run({"XINFO", "CONSUMERS", kNoticeStreamKey, kNoticeGroup}); };
  EXPECT_EQ(outbox->ForgetIdleWorkers("self", absl::Hours(1)).value(), 0u);  // not idle yet
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(outbox->ForgetIdleWorkers("self", absl::Milliseconds(20)).value(), 1u);
  const std::string left = consumers();
  EXPECT_EQ(left.find("pod-gone"), std::string::npos) << left;
  EXPECT_NE(left.find("pod-holding"), std::string::npos) << left;
  EXPECT_NE(left.find("self"), std::string::npos) << left;
  EXPECT_EQ(outbox->Stats().value().pending, 1);
}

TEST_F(RedisNoticeOutboxTest, PastTheBoundNewNoticesAreDroppedAndCounted) {
  auto outbox = NewOutbox(2);
  for (const char* tid : {"t1", "t2", "t3"}) ASSERT_TRUE(outbox->Add(Failed(tid)).ok());
  OutboxStats stats = outbox->Stats().value();
  EXPECT_EQ(stats.queued, 2);
  EXPECT_EQ(stats.dropped, 1);
  auto taken = outbox->Take("a", 10, absl::Hours(1)).value();
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].notice.transaction_id, "t1");  // the oldest kept
}

TEST_F(RedisNoticeOutboxTest, TheQueueComesBackAfterRedisLostIt) {
  auto outbox = NewOutbox();
  ASSERT_TRUE(outbox->Add(Failed("t1")).ok());
  ASSERT_EQ(outbox->Take("a", 10, absl::Hours(1))->size(), 1u);
  Run({"FLUSHALL"});
  ASSERT_TRUE(outbox->Add(Failed("t2")).ok());
  auto taken = outbox->Take("a", 10, absl::Hours(1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].notice.transaction_id, "t2");
}

TEST_F(RedisNoticeOutboxTest, TheCompletionQueuesTheIssuedNoticeExactlyOnce) {
  auto store = NewStore(OptionsFor(*server_));
  auto outbox = NewOutbox();
  ASSERT_TRUE(store->ClaimTransaction("wifi", "tid", "fp", absl::Minutes(1)).ok());
  Notice issued;
  issued.event = Notice::Event::kIssued;
  issued.profile = "wifi";
  issued.transaction_id = "tid";
  issued.message_type = "PKCSReq";
  issued.csr = "csr";
  issued.certificate = "cert-der";
  issued.time = absl::Now();
  ASSERT_TRUE(store->QueuesNotices());
  ASSERT_TRUE(store->CompleteIndexedTransaction("wifi", "tid", "fp", "cert-der", "",
                                                absl::Hours(1), {&issued, 100})
                  .ok());
  // The same completion again (a retry whose answer was lost): nothing new.
  ASSERT_TRUE(store->CompleteIndexedTransaction("wifi", "tid", "fp", "cert-der", "",
                                                absl::Hours(1), {&issued, 100})
                  .ok());
  // Another certificate for the transaction is refused, and not noticed.
  EXPECT_FALSE(store->CompleteIndexedTransaction("wifi", "tid", "fp", "other-der", "",
                                                 absl::Hours(1), {&issued, 100})
                   .ok());
  auto taken = outbox->Take("a", 10, absl::Hours(1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].notice.event, Notice::Event::kIssued);
  EXPECT_EQ((*taken)[0].notice.certificate, "cert-der");

  // Past the bound the completion is still recorded; the notice is counted.
  ASSERT_TRUE(store->ClaimTransaction("wifi", "tid2", "fp2", absl::Minutes(1)).ok());
  ASSERT_TRUE(store->CompleteIndexedTransaction("wifi", "tid2", "fp2", "cert2", "",
                                                absl::Hours(1), {&issued, 1})
                  .ok());
  EXPECT_EQ(store->GetTransaction("wifi", "tid2").value()->state,
            Transaction::State::kIssued);
  EXPECT_EQ(outbox->Stats().value().dropped, 1);
}

}  // namespace
}  // namespace scep::redis::store_test

namespace scep::redis::store_test {
namespace {

// Given up, listed, queued again: the same rules for both outboxes.
void GiveUpListAndRequeue(NoticeOutbox& outbox, bool redis) {
  Notice vpn = Failed("t2");
  vpn.profile = "vpn";
  ASSERT_TRUE(outbox.Add(Failed("t1")).ok());
  ASSERT_TRUE(outbox.Add(vpn).ok());
  ASSERT_TRUE(outbox.Add(Failed("t3")).ok());
  auto taken = outbox.Take("a", 10, absl::Hours(1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 3u);
  ASSERT_TRUE(outbox.GiveUp((*taken)[0], "refused", "receiver answered HTTP 400").ok());
  absl::SleepFor(absl::Milliseconds(2));  // distinct list ids in time order
  ASSERT_TRUE(outbox.GiveUp((*taken)[1], "expired", "not delivered in time").ok());
  ASSERT_TRUE(outbox.Done((*taken)[2].id).ok());
  OutboxStats stats = outbox.Stats().value();
  EXPECT_EQ(stats.queued, 0);  // given up leaves the queue at once
  EXPECT_EQ(stats.pending, 0);
  EXPECT_EQ(stats.given_up, 2);

  auto listed = outbox.GivenUp("", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  const GivenUpNotice& newest = (*listed)[0];
  EXPECT_EQ(newest.notice.transaction_id, "t2");
  EXPECT_EQ(newest.notice.profile, "vpn");
  EXPECT_EQ(newest.result, "expired");
  const GivenUpNotice& t1 = (*listed)[1];
  EXPECT_EQ(t1.result, "refused");
  EXPECT_EQ(t1.reason, "receiver answered HTTP 400");
  EXPECT_EQ(t1.notice.csr, std::string("\x30\x82\x00binary", 9));  // binary-safe
  EXPECT_EQ(t1.notice.time, absl::FromUnixMillis(1700000000123));
  EXPECT_LE(absl::AbsDuration(t1.queued - (*taken)[0].queued), absl::Milliseconds(1));
  EXPECT_LE(absl::AbsDuration(absl::Now() - t1.given_up), absl::Seconds(5));
  auto wifi = outbox.GivenUp("wifi", 10);
  ASSERT_EQ(wifi->size(), 1u);
  EXPECT_EQ((*wifi)[0].notice.transaction_id, "t1");
  EXPECT_EQ(outbox.GivenUp("", 1)->size(), 1u);

  // Queued again: taken as a new notice, off the list. An id not listed
  // is skipped.
  const std::string unknown = redis ? "1-0" : "no-such-id";
  auto requeued = outbox.Requeue({t1.id, unknown});
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(*requeued, 1u);
  EXPECT_EQ(outbox.Requeue({t1.id}).value(), 0u);  // once
  auto again = outbox.Take("b", 10, absl::Hours(1));
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].notice.transaction_id, "t1");
  EXPECT_NE((*again)[0].id, (*taken)[0].id);
  EXPECT_EQ((*again)[0].notice.csr, std::string("\x30\x82\x00binary", 9));
  // Receivers see the notice_id it was first queued under, also after it
  // is given up and queued once more.
  EXPECT_EQ(NoticeId((*again)[0].id, (*again)[0].notice), (*taken)[0].id);
  ASSERT_TRUE(outbox.GiveUp((*again)[0], "refused", "receiver answered HTTP 400").ok());
  auto relisted = outbox.GivenUp("wifi", 1);
  ASSERT_EQ(relisted->size(), 1u);
  EXPECT_EQ((*relisted)[0].notice.first_id, (*taken)[0].id);
  ASSERT_EQ(outbox.Requeue({(*relisted)[0].id}).value(), 1u);
  auto third = outbox.Take("b", 10, absl::Hours(1));
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ(NoticeId((*third)[0].id, (*third)[0].notice), (*taken)[0].id);
  EXPECT_EQ(outbox.GivenUp("", 10)->size(), 1u);
  EXPECT_EQ(outbox.Stats()->given_up, 1);
  // A full queue (bound 3) takes none: the notice stays listed.
  ASSERT_TRUE(outbox.Add(Failed("t4")).ok());
  ASSERT_TRUE(outbox.Add(Failed("t5")).ok());
  EXPECT_EQ(outbox.Requeue({newest.id}).value(), 0u);
  EXPECT_EQ(outbox.GivenUp("vpn", 10)->size(), 1u);
}

TEST_F(RedisNoticeOutboxTest, GivenUpNoticesAreListedAndQueuedAgain) {
  auto outbox = NewOutbox(3);
  GiveUpListAndRequeue(*outbox, true);
  EXPECT_EQ(outbox->Requeue({"1-0", "KEYS *"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MemoryNoticeOutboxTest, GivenUpNoticesAreListedAndQueuedAgain) {
  MemoryNoticeOutbox outbox(3);
  GiveUpListAndRequeue(outbox, false);
}

}  // namespace
}  // namespace scep::redis::store_test
