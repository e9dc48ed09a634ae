// One-time challenges through the gateway's SCEP service (pki_authorize.cc):
// a challenge belongs to the transaction that first presents it until that
// transaction is done. The device's retry after a 503 (signer or Redis down,
// the gateway gone) or a refusal it can wait out, and an identical twin a
// proxy sends, pass it again; any other request presenting it is refused.

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/der.h"
#include "common/redis/memory_request_store.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway::testing {
namespace {

constexpr absl::string_view kUsedText = "challenge unknown, expired or already used";

class PkiChallengeTest : public PkiMessagesTest {
 protected:
  void SetUp() override {
    PkiMessagesTest::SetUp();
    options_.profile.challenge_mode = Profile::ChallengeMode::kOneTime;
    options_.profile.challenge.clear();
    options_.extras.challenges = &challenges_;
    Rebuild();
  }

  // What the admin API hands the MDM for one device.
  std::string Mint(const std::string& subject = "",
                   absl::Duration ttl = absl::Hours(1)) {
    const std::string challenge = absl::StrCat("one-time-challenge-", ++minted_);
    EXPECT_TRUE(challenges_.Create(options_.profile.name, challenge, subject, ttl).ok());
    return challenge;
  }

  HttpResponse Request(const Identity& id, const std::string& tid, const std::string& csr) {
    return Post(Message(id, MessageType::kPkcsReq, tid, csr));
  }

  static std::string Text(const codec::ScepAttributes& attrs) {
    return attrs.fail_info_text.value_or("");
  }

  std::string Der(X509* cert) { return crypto::ToDer(cert, i2d_X509).value(); }

  // A new transaction of a new device presenting `challenge`: refused as
  // used, whoever holds it.
  void ExpectUsedUp(const std::string& challenge, const std::string& tid) {
    Identity other = NewDevice(tid);
    codec::ScepAttributes attrs = Attributes(Request(other, tid, Csr(other.key.get(), tid,
                                                                     challenge)));
    EXPECT_EQ(attrs.pki_status, PkiStatus::kFailure) << tid;
    EXPECT_EQ(Text(attrs), kUsedText) << tid;
  }

  redis::MemoryChallengeStore challenges_;
  int minted_ = 0;
};

TEST_F(PkiChallengeTest, ARetryAfterTheSignerWasDownPassesTheSameChallenge) {
  Identity id = NewDevice("ot-retry");
  const std::string challenge = Mint();
  const std::string csr = Csr(id.key.get(), "ot-retry", challenge);
  signer_->issue_down = true;
  HttpResponse unavailable = Request(id, "tid-oret", csr);
  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  signer_->issue_down = false;
  // Meanwhile the challenge is this transaction's: another request
  // presenting it is refused ...
  ExpectUsedUp(challenge, "tid-othief");
  // ... and the device's retry (same transaction and request, a new
  // message) gets its certificate.
  codec::OpenedCertRep rep = Open(Request(id, "tid-oret", csr), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << Text(rep.message.attributes);
  ASSERT_EQ(rep.certificates.size(), 1u);
  EXPECT_EQ(signer_->issued.load(), 1);
  // Issued, the challenge is spent: not even the same key and subject get
  // another certificate with it in a new transaction.
  codec::ScepAttributes again = Attributes(Request(id, "tid-oret2", csr));
  EXPECT_EQ(again.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(Text(again), kUsedText);
  ExpectUsedUp(challenge, "tid-olate");
  // The transaction itself still answers with its certificate.
  codec::OpenedCertRep resent = Open(Request(id, "tid-oret", csr), id);
  ASSERT_EQ(resent.certificates.size(), 1u);
  EXPECT_EQ(Der(resent.certificates[0].get()), Der(rep.certificates[0].get()));
  EXPECT_EQ(signer_->issued.load(), 1);
}

// Redis failing between the challenge check and the transaction claim
// leaves the challenge as a gateway dying there does: taken by a request
// that never answered. The device's retry passes it.
TEST_F(PkiChallengeTest, ARetryAfterTheStoreFailedPastTheChallengePassesIt) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  counting.after_get_transaction = [this] { store_->SetUnavailable(true); };
  Identity id = NewDevice("ot-outage");
  const std::string challenge = Mint();
  const std::string csr = Csr(id.key.get(), "ot-outage", challenge);
  HttpResponse unavailable = Request(id, "tid-oout", csr);
  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  EXPECT_EQ(signer_->issued.load(), 0);
  store_->SetUnavailable(false);
  counting.after_get_transaction = nullptr;
  codec::OpenedCertRep rep = Open(Request(id, "tid-oout", csr), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << Text(rep.message.attributes);
  EXPECT_EQ(signer_->issued.load(), 1);
  ExpectUsedUp(challenge, "tid-oout2");
}

// The per-subject limit refuses for a while, not for good: the device that
// comes back after the window, in the same transaction, still has its
// challenge.
TEST_F(PkiChallengeTest, ARetryAfterTheSubjectLimitPassesTheSameChallenge) {
  absl::Time now = absl::Now();
  absl::Mutex mu;
  std::unique_ptr<redis::RateLimiter> limiter = redis::NewMemoryRateLimiter([&] {
    absl::MutexLock lock(&mu);
    return now;
  });
  options_.extras.rate_limiter = limiter.get();
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity first = NewDevice("ot-kiosk");
  ASSERT_EQ(Open(Request(first, "tid-ok1", Csr(first.key.get(), "ot-kiosk", Mint())), first)
                .message.attributes.pki_status,
            PkiStatus::kSuccess);
  // The replacement device, the same day: over the subject's limit.
  Identity second = NewDevice("ot-kiosk");
  const std::string challenge = Mint("", absl::Hours(48));
  const std::string csr = Csr(second.key.get(), "ot-kiosk", challenge);
  codec::ScepAttributes refused = Attributes(Request(second, "tid-ok2", csr));
  EXPECT_EQ(refused.pki_status, PkiStatus::kFailure);
  EXPECT_TRUE(absl::StrContains(Text(refused), "too many requests")) << Text(refused);
  ExpectUsedUp(challenge, "tid-ok3");
  {
    absl::MutexLock lock(&mu);
    now += absl::Hours(25);
  }
  codec::OpenedCertRep rep = Open(Request(second, "tid-ok2", csr), second);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << Text(rep.message.attributes);
  EXPECT_EQ(signer_->issued.load(), 2);
}

// A proxy retrying on another connection sends the identical bytes while
// the first copy is still being answered: both copies look the transaction
// up before either claims it, and either may find the challenge claimed by
// the other, or already spent by it. Neither may be told FAILURE for a
// transaction that gets its certificate.
TEST_F(PkiChallengeTest, IdenticalTwinsBothGetTheCertificate) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  counting.HoldLookupsUntilTwins();
  Identity id = NewDevice("ot-twin");
  const std::string request =
      Message(id, MessageType::kPkcsReq, "tid-otwin", Csr(id.key.get(), "ot-twin", Mint()));
  HttpResponse replies[2];
  std::thread twin([&] { replies[1] = Post(request); });
  replies[0] = Post(request);
  twin.join();
  EXPECT_GE(counting.lookups_held(), 2);
  std::string issued[2];
  for (int i = 0; i < 2; ++i) {
    codec::OpenedCertRep rep = Open(replies[i], id);
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
        << i << ": " << Text(rep.message.attributes);
    ASSERT_EQ(rep.certificates.size(), 1u) << i;
    issued[i] = Der(rep.certificates[0].get());
  }
  EXPECT_EQ(issued[0], issued[1]);
  EXPECT_EQ(signer_->issued.load(), 1);
}

// The same, one interleaving made certain: the second copy looked the
// transaction up (nothing yet), then the first did everything, issued and
// spent the challenge, before the second asked for the challenge.
TEST_F(PkiChallengeTest, ATwinThatFinishedFirstLeavesTheOtherItsCertificate) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  absl::Mutex mu;
  int looked_up = 0;
  bool first_done = false;
  counting.after_get_transaction = [&] {
    absl::MutexLock lock(&mu);
    if (++looked_up != 1) return;
    mu.AwaitWithTimeout(absl::Condition(&first_done), absl::Seconds(10));
  };
  Identity id = NewDevice("ot-late-twin");
  const std::string request = Message(id, MessageType::kPkcsReq, "tid-oltw",
                                       Csr(id.key.get(), "ot-late-twin", Mint()));
  HttpResponse late;
  std::thread twin([&] { late = Post(request); });
  {
    absl::MutexLock lock(&mu);
    auto waiting = [](int* n) { return *n >= 1; };
    mu.Await(absl::Condition(+waiting, &looked_up));
  }
  codec::OpenedCertRep first = Open(Post(request), id);
  {
    absl::MutexLock lock(&mu);
    first_done = true;
  }
  twin.join();
  ASSERT_EQ(first.message.attributes.pki_status, PkiStatus::kSuccess)
      << Text(first.message.attributes);
  codec::OpenedCertRep second = Open(late, id);
  ASSERT_EQ(second.message.attributes.pki_status, PkiStatus::kSuccess)
      << Text(second.message.attributes);
  ASSERT_EQ(second.certificates.size(), 1u);
  EXPECT_EQ(Der(second.certificates[0].get()), Der(first.certificates[0].get()));
  EXPECT_EQ(signer_->issued.load(), 1);
}

// README: a request for another subject than the challenge's is refused and
// uses the challenge up (it is refused for good: the device asked for a
// subject it was not given the challenge for).
TEST_F(PkiChallengeTest, ARequestForAnotherSubjectUsesTheChallengeUp) {
  const std::string challenge = Mint("CN=ot-bound");
  Identity wrong = NewDevice("ot-unbound");
  codec::ScepAttributes refused =
      Attributes(Request(wrong, "tid-owrong", Csr(wrong.key.get(), "ot-unbound", challenge)));
  EXPECT_EQ(refused.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(Text(refused), "challenge is bound to another subject");
  Identity right = NewDevice("ot-bound");
  codec::ScepAttributes after =
      Attributes(Request(right, "tid-oright", Csr(right.key.get(), "ot-bound", challenge)));
  EXPECT_EQ(after.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(Text(after), kUsedText);
  EXPECT_EQ(signer_->issued.load(), 0);
}

// A request parked for manual approval has used its challenge: the device's
// PKCSReq sent again is PENDING as before, another request is refused.
TEST_F(PkiChallengeTest, ARequestParkedForApprovalSpendsTheChallenge) {
  redis::MemoryRequestStore requests;
  options_.extras.requests = &requests;
  options_.profile.approval = Profile::Approval::kManual;
  Rebuild();
  Identity id = NewDevice("ot-approval");
  const std::string challenge = Mint();
  const std::string csr = Csr(id.key.get(), "ot-approval", challenge);
  for (int i = 0; i < 2; ++i) {
    codec::ScepAttributes attrs = Attributes(Request(id, "tid-oap", csr));
    EXPECT_EQ(attrs.pki_status, PkiStatus::kPending) << i << ": " << Text(attrs);
  }
  ExpectUsedUp(challenge, "tid-oap2");
}

// Each refusal of a challenge is counted by why, for an alert that tells a
// fleet pushed with a stale secret (or someone guessing) from other
// refusals: scep_gateway_challenge_refused_total{profile,reason}.
TEST_F(PkiChallengeTest, RefusalsAreCountedByReason) {
  prometheus::Registry registry;
  GatewayMetrics metrics(registry);
  options_.extras.metrics = &metrics;
  Rebuild();
  auto refused = [&](const std::string& reason) {
    return CounterTotal(registry, "scep_gateway_challenge_refused_total", "reason", reason);
  };
  Identity id = NewDevice("counted");
  EXPECT_EQ(Attributes(Request(id, "tid-cnt-1", Csr(id.key.get(), "counted", "never-minted")))
                .pki_status,
            PkiStatus::kFailure);
  EXPECT_EQ(refused("unknown"), 1);
  const std::string bound = Mint("CN=someone-else");
  EXPECT_EQ(Attributes(Request(id, "tid-cnt-2", Csr(id.key.get(), "counted", bound))).pki_status,
            PkiStatus::kFailure);
  EXPECT_EQ(refused("other_subject"), 1);
  EXPECT_EQ(refused("unknown"), 1);
  // A good one is not counted.
  EXPECT_EQ(Attributes(Request(id, "tid-cnt-3", Csr(id.key.get(), "counted", Mint()))).pki_status,
            PkiStatus::kSuccess);
  EXPECT_EQ(CounterTotal(registry, "scep_gateway_challenge_refused_total"), 2);
}

}  // namespace
}  // namespace scep::gateway::testing
