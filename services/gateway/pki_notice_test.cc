// Issuance notices queued by the PKIOperation path (pki_notice.cc): one
// issued notice per certificate, a failed notice per refusal of a decrypted
// request, none for a replay or a retransmission, nor for a FAILURE
// answered from a rejected transaction (the rejection was noticed).

#include "common/redis/memory_request_store.h"
#include "common/redis/notice_outbox.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway::testing {
namespace {

class PkiNoticeTest : public PkiMessagesTest {
 protected:
  void SetUp() override {
    PkiMessagesTest::SetUp();
    options_.profile.notice_url = "http://127.0.0.1:1/notify";
    options_.profile.notice_issued = true;
    options_.profile.notice_failed = true;
    options_.extras.notices = &outbox_;
    Rebuild();
  }

  std::vector<redis::QueuedNotice> Queued() {
    return outbox_.Take("test", 100, absl::ZeroDuration()).value();
  }

  redis::MemoryNoticeOutbox outbox_;
};

TEST_F(PkiNoticeTest, AnIssuedCertificateIsNoticedOnceWithItsCertificateAndRequest) {
  Identity id = NewDevice("notice-device");
  const std::string csr = Csr(id.key.get(), "notice-device", "pw");
  const std::string message = Message(id, MessageType::kPkcsReq, "tid-notice-1", csr);
  auto rep = Open(Post(message), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  ASSERT_EQ(rep.certificates.size(), 1u);
  // The identical message again (a retransmission) gets the same
  // certificate and queues nothing more.
  auto again = Open(Post(message), id);
  ASSERT_EQ(again.message.attributes.pki_status, PkiStatus::kSuccess);

  std::vector<redis::QueuedNotice> queued = Queued();
  ASSERT_EQ(queued.size(), 1u);
  const redis::Notice& n = queued[0].notice;
  EXPECT_EQ(n.event, redis::Notice::Event::kIssued);
  EXPECT_EQ(n.profile, options_.profile.name);
  EXPECT_EQ(n.transaction_id, "tid-notice-1");
  EXPECT_EQ(n.message_type, "PKCSReq");
  EXPECT_EQ(n.csr, csr);
  EXPECT_EQ(n.certificate, crypto::ToDer(rep.certificates[0].get(), i2d_X509).value());
}

TEST_F(PkiNoticeTest, ARefusedRequestIsNoticedWithItsFailInfo) {
  Identity id = NewDevice("wrong-challenge");
  const std::string csr = Csr(id.key.get(), "wrong-challenge", "not-the-secret");
  auto rep = Open(Post(Message(id, MessageType::kPkcsReq, "tid-notice-2", csr)), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure);

  std::vector<redis::QueuedNotice> queued = Queued();
  ASSERT_EQ(queued.size(), 1u);
  const redis::Notice& n = queued[0].notice;
  EXPECT_EQ(n.event, redis::Notice::Event::kFailed);
  EXPECT_EQ(n.transaction_id, "tid-notice-2");
  EXPECT_EQ(n.csr, csr);
  EXPECT_EQ(n.fail_info, "badRequest");
  EXPECT_EQ(n.fail_info_text, "challenge password wrong");
  EXPECT_TRUE(n.certificate.empty());
}

// Webhook receivers deduplicate by notice_id, which each queued notice gets
// anew: a device (or a proxy) sending the identical refused message again
// must not look like another refusal.
TEST_F(PkiNoticeTest, TheIdenticalRefusedMessageAgainIsNoticedOnce) {
  Identity id = NewDevice("wrong-twice");
  const std::string message =
      Message(id, MessageType::kPkcsReq, "tid-notice-6",
              Csr(id.key.get(), "wrong-twice", "not-the-secret"));
  for (int i = 0; i < 3; ++i) {
    auto rep = Open(Post(message), id);
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure) << i;
    EXPECT_EQ(rep.message.attributes.fail_info_text.value_or(""), "challenge password wrong");
  }
  std::vector<redis::QueuedNotice> queued = Queued();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].notice.event, redis::Notice::Event::kFailed);
  EXPECT_EQ(queued[0].notice.transaction_id, "tid-notice-6");
}

// The operator's rejection queues the failed notice (admin RejectRequest);
// the device asking again afterwards (a new PKCSReq, the identical one, or
// a CertPoll) is told FAILURE from the transaction and queues nothing.
TEST_F(PkiNoticeTest, AskingAgainAfterARejectionIsNotNoticedAgain) {
  redis::MemoryRequestStore requests;
  options_.extras.requests = &requests;
  options_.profile.approval = Profile::Approval::kManual;
  Rebuild();
  Identity id = NewDevice("rejected");
  const std::string csr = Csr(id.key.get(), "rejected", "pw");
  auto pending = Open(Post(Message(id, MessageType::kPkcsReq, "tid-notice-7", csr)), id);
  ASSERT_EQ(pending.message.attributes.pki_status, PkiStatus::kPending);
  ASSERT_TRUE(store_->RejectTransaction("default", "tid-notice-7", absl::Hours(1)).ok());

  const std::string resent = Message(id, MessageType::kPkcsReq, "tid-notice-7", csr);
  for (int i = 0; i < 2; ++i) {  // a new message, then that one again
    auto rep = Open(Post(resent), id);
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure) << i;
    EXPECT_EQ(rep.message.attributes.fail_info_text.value_or(""), kRejectedText);
  }
  const std::string ias =
      codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                    X509_REQ_get_subject_name(
                                        codec::ParseCsr(csr).value().request.get()))
          .value();
  auto polled = Open(Post(Message(id, MessageType::kCertPoll, "tid-notice-7", ias)), id);
  ASSERT_EQ(polled.message.attributes.pki_status, PkiStatus::kFailure);
  EXPECT_TRUE(Queued().empty());
}

TEST_F(PkiNoticeTest, AReplayOrAReusedTransactionIsNotNoticedAsAFailure) {
  Identity id = NewDevice("replayed");
  const std::string nonce = "0123456789abcdef";
  auto first = Open(Post(Message(id, MessageType::kPkcsReq, "tid-notice-3",
                                 Csr(id.key.get(), "replayed", "pw"), nonce)),
                    id);
  ASSERT_EQ(first.message.attributes.pki_status, PkiStatus::kSuccess);
  // Another message with the same senderNonce: a replay.
  auto replay = Open(Post(Message(id, MessageType::kPkcsReq, "tid-notice-4",
                                  Csr(id.key.get(), "replayed", "pw"), nonce)),
                     id);
  ASSERT_EQ(replay.message.attributes.pki_status, PkiStatus::kFailure);
  // The first transactionID again for another key: not this one's to fail.
  Identity other = NewDevice("other");
  auto reused = Open(Post(Message(other, MessageType::kPkcsReq, "tid-notice-3",
                                  Csr(other.key.get(), "other", "pw"))),
                     other);
  ASSERT_EQ(reused.message.attributes.pki_status, PkiStatus::kFailure);

  std::vector<redis::QueuedNotice> queued = Queued();
  ASSERT_EQ(queued.size(), 1u);  // the first request's issued notice only
  EXPECT_EQ(queued[0].notice.event, redis::Notice::Event::kIssued);
}

TEST_F(PkiNoticeTest, OnlyTheEventsTheProfileAsksFor) {
  options_.profile.notice_failed = false;
  Rebuild();
  Identity id = NewDevice("issued-only");
  auto rep = Open(Post(Message(id, MessageType::kPkcsReq, "tid-notice-5",
                               Csr(id.key.get(), "issued-only", "wrong"))),
                  id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kFailure);
  EXPECT_TRUE(Queued().empty());
}

}  // namespace
}  // namespace scep::gateway::testing
