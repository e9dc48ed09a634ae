// Issuance notices queued by the PKIOperation path (pki_notice.cc): one
// issued notice per certificate, a failed notice per refusal of a decrypted
// request, none for a replay or a retransmission, nor for a FAILURE
// answered from a rejected transaction (the rejection was noticed).

#include "absl/strings/match.h"
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

  // The notices queued since the last call (those before are delivered).
  std::vector<redis::QueuedNotice> Delivered() {
    std::vector<redis::QueuedNotice> queued = Queued();
    for (const redis::QueuedNotice& q : queued) EXPECT_TRUE(outbox_.Done(q.id).ok());
    return queued;
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

// A CSR carries its challengePassword. A one-time challenge in a request
// refused before the challenge was looked at (policy, the CSR's signature)
// is still good: the failed notice leaves that CSR out, or its receiver (and
// whoever reads the notice queue in Redis) could enroll with the challenge.
// The challenge is left as it was, for the device's corrected request.
TEST_F(PkiNoticeTest, AFailedNoticeNeverCarriesALiveOneTimeChallenge) {
  redis::MemoryChallengeStore challenges;
  options_.extras.challenges = &challenges;
  options_.profile.challenge_mode = Profile::ChallengeMode::kOneTime;
  options_.profile.challenge.clear();
  options_.profile.key_types = {"ec-p256"};
  Rebuild();
  ASSERT_TRUE(challenges.Create("default", "minted-for-one-device", "", absl::Hours(1)).ok());
  Identity rsa = NewDevice("ot-rsa");
  auto refused = Open(Post(Message(rsa, MessageType::kPkcsReq, "tid-not-1",
                                   Csr(rsa.key.get(), "ot-rsa", "minted-for-one-device"))),
                      rsa);
  ASSERT_EQ(refused.message.attributes.pki_status, PkiStatus::kFailure);
  std::vector<redis::QueuedNotice> queued = Delivered();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].notice.event, redis::Notice::Event::kFailed);
  EXPECT_EQ(queued[0].notice.transaction_id, "tid-not-1");
  EXPECT_EQ(queued[0].notice.fail_info, "badRequest");
  EXPECT_TRUE(queued[0].notice.csr.empty());
  EXPECT_FALSE(absl::StrContains(queued[0].notice.fail_info_text, "minted-for-one-device"));

  // The device, given an EC key, enrolls with its challenge.
  Identity ec = NewEcDevice("ot-ec");
  const std::string csr = Csr(ec.key.get(), "ot-ec", "minted-for-one-device");
  auto issued = Open(Post(Message(ec, MessageType::kPkcsReq, "tid-not-2", csr)), ec);
  ASSERT_EQ(issued.message.attributes.pki_status, PkiStatus::kSuccess)
      << issued.message.attributes.fail_info_text.value_or("");
  // Used up by then: its issued notice may carry the CSR, and so may the
  // failed notice of a request the challenge was checked for.
  queued = Delivered();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].notice.event, redis::Notice::Event::kIssued);
  EXPECT_EQ(queued[0].notice.csr, csr);
  Identity late = NewEcDevice("ot-late");
  const std::string late_csr = Csr(late.key.get(), "ot-late", "minted-for-one-device");
  auto used = Open(Post(Message(late, MessageType::kPkcsReq, "tid-not-3", late_csr)), late);
  ASSERT_EQ(used.message.attributes.pki_status, PkiStatus::kFailure);
  queued = Delivered();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].notice.fail_info_text, "challenge unknown, expired or already used");
  EXPECT_EQ(queued[0].notice.csr, late_csr);
}

// The same for an external verifier's challenge: a request refused before
// the verifier was asked leaves its CSR out of the failed notice; once the
// verifier has decided on it, the notice carries it (Intune's failure
// notification wants it back).
TEST_F(PkiNoticeTest, AFailedNoticeCarriesAnExternalChallengeOnlyOnceVerified) {
  class Verifier final : public ChallengeVerifier {
   public:
    absl::StatusOr<bool> Verify(const Profile&, const VerifyRequest& request) override {
      return request.challenge == "intune-says-yes";
    }
  } verifier;
  options_.extras.verifier = &verifier;
  options_.profile.challenge_mode = Profile::ChallengeMode::kExternal;
  options_.profile.challenge.clear();
  options_.profile.key_types = {"ec-p256"};
  Rebuild();
  Identity rsa = NewDevice("ext-rsa");
  auto refused = Open(Post(Message(rsa, MessageType::kPkcsReq, "tid-nex-1",
                                   Csr(rsa.key.get(), "ext-rsa", "intune-says-yes"))),
                      rsa);
  ASSERT_EQ(refused.message.attributes.pki_status, PkiStatus::kFailure);
  std::vector<redis::QueuedNotice> queued = Delivered();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_TRUE(queued[0].notice.csr.empty());

  Identity ec = NewEcDevice("ext-ec");
  const std::string csr = Csr(ec.key.get(), "ext-ec", "intune-says-no");
  auto denied = Open(Post(Message(ec, MessageType::kPkcsReq, "tid-nex-2", csr)), ec);
  ASSERT_EQ(denied.message.attributes.pki_status, PkiStatus::kFailure);
  queued = Delivered();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].notice.fail_info_text, "challenge refused by the verifier");
  EXPECT_EQ(queued[0].notice.csr, csr);
}

}  // namespace
}  // namespace scep::gateway::testing
