// Rate limits through the gateway's SCEP service with an in-process signer
// and stores: per client and per profile (HTTP 429 before anything is
// decrypted), and per subject and day (a signed FAILURE, counted once per
// authenticated new request).

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/der.h"
#include "common/redis/memory_request_store.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway::testing {
namespace {

class PkiRateLimitTest : public PkiMessagesTest {
 protected:
  void SetUp() override {
    PkiMessagesTest::SetUp();
    options_.extras.rate_limiter = limiter_.get();
  }

  std::string Der(X509* cert) { return crypto::ToDer(cert, i2d_X509).value(); }

  bool OverSubjectLimit(const HttpResponse& r) {
    codec::ScepAttributes attrs = Attributes(r);
    return attrs.pki_status == PkiStatus::kFailure &&
           attrs.fail_info == FailInfo::kBadRequest &&
           absl::StrContains(attrs.fail_info_text.value_or(""), "too many requests");
  }

  std::unique_ptr<redis::RateLimiter> limiter_ = redis::NewMemoryRateLimiter(absl::Now);
};

TEST_F(PkiRateLimitTest, RateLimitsPerClientAndPerSubject) {
  options_.profile.per_client_per_minute = 3;
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity id = Enroll("limited", "tid-l1");  // 1st request of the client
  // Same subject again (new transaction): over the per-subject limit.
  auto attrs = Attributes(Post(Message(id, MessageType::kPkcsReq, "tid-l2",
                                       Csr(id.key.get(), "limited", "pw"))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(*attrs.fail_info_text, "too many requests"));
  EXPECT_EQ(signer_->issued.load(), 1);
  // Third request of this client still passes the client limit ...
  HttpResponse third = Post(Message(id, MessageType::kGetCert, "tid-l3", "x"));
  EXPECT_EQ(third.status, 200);
  // ... the fourth is over it: 429 with Retry-After, nothing processed.
  HttpResponse fourth = Post(Message(id, MessageType::kGetCert, "tid-l4", "x"));
  EXPECT_EQ(fourth.status, 429);
  ASSERT_FALSE(fourth.headers.empty());
  EXPECT_EQ(fourth.headers[0].first, "Retry-After");
  int seconds = std::stoi(fourth.headers[0].second);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 60);
}

TEST_F(PkiRateLimitTest, PerClientLimitBehindATrustedProxyUsesForwardedFor) {
  options_.profile.per_client_per_minute = 1;
  // The test peer 192.0.2.7 is the ingress.
  options_.trusted_proxies = TrustedProxies::Parse("192.0.2.0/24").value();
  Rebuild();
  Identity id = Enroll("proxied", "tid-p0");  // no header: the proxy itself
  // Two devices behind the same ingress each get their own budget ...
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p1", "x"), "198.51.100.1").status, 200);
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p2", "x"), "198.51.100.2").status, 200);
  // ... and the first one is now over it, whatever it claims further left.
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p3", "x"),
                 "203.0.113.50, 198.51.100.1").status,
            429);
  // Without trust the header is ignored: everything is the proxy's address,
  // which used its one request above.
  options_.trusted_proxies = TrustedProxies();
  Rebuild();
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p4", "x"), "198.51.100.3").status, 429);
}

TEST_F(PkiRateLimitTest, PerSubjectLimitCountsAuthenticatedNewRequestsOnly) {
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity id = NewDevice("daily");
  // A stranger who knows the subject but not the challenge: refused for the
  // challenge, each time, without using up the subject's quota.
  for (const char* tid : {"tid-x1", "tid-x2"}) {
    codec::ScepAttributes attrs = Attributes(
        Post(Message(id, MessageType::kPkcsReq, tid, Csr(id.key.get(), "daily", "guess"))));
    EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
    EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "challenge password wrong"))
        << attrs.fail_info_text.value_or("");
  }
  const std::string csr = Csr(id.key.get(), "daily", "pw");
  codec::OpenedCertRep first = Open(Post(Message(id, MessageType::kPkcsReq, "tid-d1", csr)), id);
  ASSERT_EQ(first.message.attributes.pki_status, PkiStatus::kSuccess)
      << first.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(first.certificates.size(), 1u);
  // The reply was lost: the device sends its request again (new message,
  // same transaction and CSR) and gets the same certificate, not a refusal.
  codec::OpenedCertRep again = Open(Post(Message(id, MessageType::kPkcsReq, "tid-d1", csr)), id);
  ASSERT_EQ(again.message.attributes.pki_status, PkiStatus::kSuccess)
      << again.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(again.certificates.size(), 1u);
  EXPECT_EQ(Der(again.certificates[0].get()), Der(first.certificates[0].get()));
  EXPECT_EQ(signer_->issued.load(), 1);
  // A new certificate for the subject the same day is over the limit: in a
  // new transaction ...
  EXPECT_TRUE(OverSubjectLimit(Post(Message(id, MessageType::kPkcsReq, "tid-d2", csr))));
  // ... and as a same-key renewal in the issued transaction, signed with
  // its certificate (a new certificate too).
  Identity holder;
  holder.key.reset(id.key.get());
  EVP_PKEY_up_ref(id.key.get());
  holder.cert = crypto::X509Ptr(X509_dup(first.certificates[0].get()));
  EXPECT_TRUE(OverSubjectLimit(Post(Message(holder, MessageType::kPkcsReq, "tid-d1", csr))));
  EXPECT_EQ(signer_->issued.load(), 1);
}

// A request answered 503 (signer or Redis down) got nothing: it does not
// count against its subject, or a few outages in an onboarding wave would
// lock devices out for a day. The retry is the request that counts.
TEST_F(PkiRateLimitTest, PerSubjectLimitIsNotUsedUpByUnavailableAnswers) {
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity id = NewDevice("outage");
  const std::string csr = Csr(id.key.get(), "outage", "pw");
  signer_->issue_down = true;
  for (int i = 0; i < 2; ++i) {
    HttpResponse unavailable = Post(Message(id, MessageType::kPkcsReq, "tid-o1", csr));
    EXPECT_EQ(unavailable.status, 503) << i << ": " << unavailable.body;
  }
  signer_->issue_down = false;
  codec::OpenedCertRep issued = Open(Post(Message(id, MessageType::kPkcsReq, "tid-o1", csr)), id);
  ASSERT_EQ(issued.message.attributes.pki_status, PkiStatus::kSuccess)
      << issued.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(signer_->issued.load(), 1);
  // The limit itself still holds: a second certificate for the subject.
  EXPECT_TRUE(OverSubjectLimit(Post(Message(id, MessageType::kPkcsReq, "tid-o2", csr))));
  EXPECT_EQ(signer_->issued.load(), 1);
}

// Identical copies of one request (a proxy's retry racing the original)
// both pass the look-up before either claims the transaction, and both
// are counted then; the copy answered from the transaction gives its count
// back: one certificate, counted once.
TEST_F(PkiRateLimitTest, PerSubjectLimitCountsIdenticalTwinsOnce) {
  options_.profile.per_subject_per_day = 2;
  Rebuild();
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  counting.HoldLookupsUntilTwins();
  Identity id = NewDevice("twins");
  const std::string csr = Csr(id.key.get(), "twins", "pw");
  const std::string request = Message(id, MessageType::kPkcsReq, "tid-t1", csr);
  HttpResponse replies[2];
  std::thread twin([&] { replies[1] = Post(request); });
  replies[0] = Post(request);
  twin.join();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Attributes(replies[i]).pki_status, PkiStatus::kSuccess) << i;
  }
  EXPECT_EQ(signer_->issued.load(), 1);
  // One certificate counted: a second one the same day is within the limit.
  codec::OpenedCertRep second =
      Open(Post(Message(id, MessageType::kPkcsReq, "tid-t2", csr)), id);
  EXPECT_EQ(second.message.attributes.pki_status, PkiStatus::kSuccess)
      << second.message.attributes.fail_info_text.value_or("");
  EXPECT_TRUE(OverSubjectLimit(Post(Message(id, MessageType::kPkcsReq, "tid-t3", csr))));
}

// The per-subject limit counts the subject to be issued: another string
// type or case of the same name, or under a template another request that
// gives the same certificate subject, is the same subject.
TEST_F(PkiRateLimitTest, PerSubjectLimitCountsTheIssuedSubjectWhateverItsEncoding) {
  options_.profile.per_subject_per_day = 1;
  options_.profile.subject = {{"CN", "{CN}"}, {"O", "Example Fleet"}};
  Rebuild();
  Enroll("kiosk-1", "tid-k1");
  EXPECT_EQ(signer_->issued.load(), 1);
  for (int type : {V_ASN1_UTF8STRING, V_ASN1_BMPSTRING}) {
    Identity other = NewDevice("KIOSK-1");
    codec::CsrSpec spec;
    spec.common_name = "KIOSK-1";
    spec.common_name_type = type;
    spec.challenge = "pw";
    const std::string csr = codec::BuildCsr(other.key.get(), spec).value();
    EXPECT_TRUE(OverSubjectLimit(
        Post(Message(other, MessageType::kPkcsReq, absl::StrCat("tid-k-", type), csr))))
        << type;
  }
  // Another CN is another subject.
  Enroll("kiosk-2", "tid-k2");
  EXPECT_EQ(signer_->issued.load(), 2);
}

TEST_F(PkiRateLimitTest, PerSubjectLimitLetsAPendingRequestBeSentAgain) {
  redis::MemoryRequestStore requests;
  options_.extras.requests = &requests;
  options_.profile.approval = Profile::Approval::kManual;
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity id = NewDevice("awaiting");
  const std::string csr = Csr(id.key.get(), "awaiting", "pw");
  // Some clients poll by sending their PKCSReq again instead of CertPoll.
  for (int i = 0; i < 3; ++i) {
    codec::ScepAttributes attrs =
        Attributes(Post(Message(id, MessageType::kPkcsReq, "tid-wait", csr)));
    EXPECT_EQ(attrs.pki_status, PkiStatus::kPending)
        << i << ": " << attrs.fail_info_text.value_or("");
  }
  // A second request for the subject is a new one, and over the limit.
  EXPECT_TRUE(OverSubjectLimit(Post(Message(id, MessageType::kPkcsReq, "tid-wait-2", csr))));
  EXPECT_EQ(signer_->issued.load(), 0);
}

}  // namespace
}  // namespace scep::gateway::testing
