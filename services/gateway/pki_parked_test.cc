// A device told PENDING while its own earlier request held the transaction
// claim, when that request's gateway died mid-request: the retransmission
// parks the request, and the device's CertPoll finishes it once the dead
// holder's lease has ended (EnrollmentStore::ParkPendingClaim).

#include <utility>

#include "absl/strings/match.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway::testing {
namespace {

class PkiParkedTest : public PkiMessagesTest {
 protected:
  void SetUp() override {
    PkiMessagesTest::SetUp();
    store_ = redis::MemoryEnrollmentStore::New([this] { return now_; });
    options_.pki.pending_wait = absl::ZeroDuration();
    options_.extras.metrics = &metrics_;
    Rebuild();
    device_ = NewDevice("orphan");
    csr_ = Csr(device_.key.get(), "orphan", "pw");
    parsed_ = codec::ParseCsr(csr_).value();
    // A gateway claimed the transaction for this request and died.
    ASSERT_EQ(store_->ClaimTransaction("default", kTid, parsed_.fingerprint,
                                       options_.pki.pending_ttl)->state,
              redis::Transaction::State::kClaimed);
  }

  // The device sends its request again, in a new message.
  HttpResponse Resend() {
    return Post(Message(device_, MessageType::kPkcsReq, kTid, csr_));
  }

  // CertPoll naming this CA and the request's subject, signed by `id`.
  HttpResponse Poll(const Identity& id) {
    const std::string ias =
        codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                      X509_REQ_get_subject_name(parsed_.request.get()))
            .value();
    return Post(Message(id, MessageType::kCertPoll, kTid, ias));
  }

  // scep_gateway_claims_{parked,taken_over}_total as exposed.
  double Counter(const std::string& name, const std::string& by = "") {
    return CounterTotal(registry_, name, by.empty() ? "" : "by", by);
  }

  static constexpr char kTid[] = "tid-orphan";
  prometheus::Registry registry_;
  GatewayMetrics metrics_{registry_};
  absl::Time now_ = absl::Now();
  Identity device_;
  std::string csr_;
  codec::Csr parsed_;
};

TEST_F(PkiParkedTest, DevicesPollFinishesItsRequestOnceTheDeadHoldersLeaseEnds) {
  // The retransmission finds its twin's claim: PENDING, the request parked.
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kPending);
  // While the holder's lease runs, polls are PENDING and nothing is issued.
  EXPECT_EQ(Attributes(Poll(device_)).pki_status, PkiStatus::kPending);
  EXPECT_EQ(signer_->issued.load(), 0);
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  // Past it (the claim alone would have expired), a stranger's poll, with
  // another key, neither gets nor starts anything.
  Identity stranger = NewDevice("orphan");
  EXPECT_EQ(Attributes(Poll(stranger)).pki_status, PkiStatus::kPending);
  EXPECT_EQ(signer_->issued.load(), 0);
  // The device's own poll is answered with its certificate.
  codec::OpenedCertRep rep = Open(Poll(device_), device_);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  ASSERT_EQ(rep.certificates.size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), device_.key.get()), 1);
  EXPECT_EQ(signer_->issued.load(), 1);
  // From then on the transaction answers with that certificate: polls and
  // retransmissions alike, and nothing is issued twice.
  codec::OpenedCertRep again = Open(Poll(device_), device_);
  ASSERT_EQ(again.certificates.size(), 1u);
  EXPECT_EQ(X509_cmp(again.certificates[0].get(), rep.certificates[0].get()), 0);
  codec::OpenedCertRep resent = Open(Resend(), device_);
  ASSERT_EQ(resent.certificates.size(), 1u);
  EXPECT_EQ(X509_cmp(resent.certificates[0].get(), rep.certificates[0].get()), 0);
  EXPECT_EQ(signer_->issued.load(), 1);
  EXPECT_EQ(Counter("scep_gateway_claims_parked_total"), 1);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "poll"), 1);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "request"), 0);
}

TEST_F(PkiParkedTest, ARetransmissionAfterTheLeaseIssuesToo) {
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kPending);
  // Parked, the transaction outlives the claim's TTL; the device sending
  // its request again rather than polling takes it over.
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  codec::OpenedCertRep rep = Open(Resend(), device_);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(signer_->issued.load(), 1);
  codec::OpenedCertRep polled = Open(Poll(device_), device_);
  ASSERT_EQ(polled.certificates.size(), 1u);
  EXPECT_EQ(X509_cmp(polled.certificates[0].get(), rep.certificates[0].get()), 0);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "request"), 1);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "poll"), 0);
}

TEST_F(PkiParkedTest, TheDeadRequestsOwnBytesAgainAreParkedNotRefusedAsAReplay) {
  // The dead request had recorded its senderNonce with its message; an
  // HTTP stack or a proxy then resends those very bytes.
  const std::string sent = Message(device_, MessageType::kPkcsReq, kTid, csr_);
  const codec::PkiMessage parsed = codec::ParsePkiMessage(sent).value();
  const std::string& nonce = parsed.attributes.sender_nonce;
  ASSERT_EQ(store_->RecordNonce("default", nonce, MessageId(parsed), options_.pki.nonce_ttl)
                .value(),
            redis::NonceUse::kFresh);
  EXPECT_EQ(Attributes(Post(sent)).pki_status, PkiStatus::kPending);
  EXPECT_EQ(Counter("scep_gateway_claims_parked_total"), 1);
  // Once the lease has ended, the same bytes once more take it over.
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  codec::OpenedCertRep rep = Open(Post(sent), device_);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(rep.message.attributes.recipient_nonce.value_or(""), nonce);
  EXPECT_EQ(signer_->issued.load(), 1);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "request"), 1);
  // And again: the certificate, not a second one.
  codec::OpenedCertRep again = Open(Post(sent), device_);
  ASSERT_EQ(again.certificates.size(), 1u);
  EXPECT_EQ(X509_cmp(again.certificates[0].get(), rep.certificates[0].get()), 0);
  EXPECT_EQ(signer_->issued.load(), 1);
}

TEST_F(PkiParkedTest, SignerOutageDuringThePollKeepsTheRequestParked) {
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kPending);
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  signer_->issue_down = true;
  HttpResponse down = Poll(device_);
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(signer_->issued.load(), 0);
  signer_->issue_down = false;
  // The poll that hit the outage released its lease, the request stays
  // parked: the device's next poll gets its certificate.
  codec::OpenedCertRep rep = Open(Poll(device_), device_);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(signer_->issued.load(), 1);
}

TEST_F(PkiParkedTest, AHolderThatGaveUpLeavesTheParkedRequestToThePoll) {
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kPending);
  // The holder is alive but its issuance failed (signer down): it releases
  // its claim. The parked request stays, and the poll finishes it at once.
  ASSERT_TRUE(store_->ReleaseTransaction("default", kTid, parsed_.fingerprint).ok());
  codec::OpenedCertRep rep = Open(Poll(device_), device_);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(signer_->issued.load(), 1);
}

TEST_F(PkiParkedTest, AParkedRequestThePolicyNowRefusesIsRejectedOnce) {
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kPending);
  // The profile changed while the request was parked: RSA-2048 is too
  // small now.
  options_.profile.min_rsa_bits = 3072;
  Rebuild();
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  codec::ScepAttributes refused = Attributes(Poll(device_));
  EXPECT_EQ(refused.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(refused.fail_info, codec::FailInfo::kBadRequest);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total", "poll"), 1);
  // Further polls and resends are answered from the transaction: nothing
  // is taken over or asked again, nothing issued.
  EXPECT_EQ(Attributes(Poll(device_)).fail_info_text, "the request was rejected");
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kFailure);
  EXPECT_EQ(Counter("scep_gateway_claims_taken_over_total"), 1);
  EXPECT_EQ(signer_->issued.load(), 0);
}

TEST_F(PkiParkedTest, ARequestThatLostItsClaimWhileIssuingHandsOutTheRecordedCertificate) {
  const std::string tid = "tid-stalled";
  Identity device = NewDevice("stalled");
  const std::string csr = Csr(device.key.get(), "stalled", "pw");
  const std::string fp = codec::ParseCsr(csr).value().fingerprint;
  // A stand-in for the certificate another gateway issued.
  const std::string theirs = crypto::ToDer(device.cert.get(), i2d_X509).value();
  // While this request is in the signer it stalls past its lease; another
  // gateway claims the transaction anew and issues it.
  bool stalled = false;
  signer_->before_issue = [&] {
    if (std::exchange(stalled, true)) return;
    now_ += options_.pki.pending_ttl + absl::Seconds(1);
    ASSERT_EQ(store_->ClaimTransaction("default", tid, fp, options_.pki.pending_ttl)->state,
              redis::Transaction::State::kClaimed);
    ASSERT_TRUE(store_->CompleteTransaction("default", tid, fp, theirs,
                                            options_.pki.issued_ttl).ok());
  };
  codec::OpenedCertRep rep =
      Open(Post(Message(device, MessageType::kPkcsReq, tid, csr)), device);
  signer_->before_issue = nullptr;
  ASSERT_TRUE(stalled);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  ASSERT_EQ(rep.certificates.size(), 1u);
  // One certificate per transaction: the recorded one, not the one this
  // request had signed.
  EXPECT_EQ(X509_cmp(rep.certificates[0].get(), device.cert.get()), 0);
  EXPECT_EQ(signer_->issued.load(), 1);
}

TEST_F(PkiParkedTest, AClaimNobodyParkedStillEndsWithItsTtl) {
  // No retransmission came: nothing parked; the poll finds the claim until
  // it expires, then no transaction (the device's next PKCSReq starts over).
  EXPECT_EQ(Attributes(Poll(device_)).pki_status, PkiStatus::kPending);
  now_ += options_.pki.pending_ttl + absl::Seconds(1);
  EXPECT_EQ(Attributes(Poll(device_)).fail_info, codec::FailInfo::kBadCertId);
  EXPECT_EQ(Attributes(Resend()).pki_status, PkiStatus::kSuccess);
}

}  // namespace
}  // namespace scep::gateway::testing
