// AdminCore::Enroll with a request_id: a repeat gets the first call's
// certificate, never a second one.

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "common/codec/csr.h"
#include "common/redis/unconfirmed_write.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core_test_fixture.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::admin::testing {
namespace {

std::string RequestIdFingerprintOf(const std::string& csr_der) {
  return RequestIdFingerprint(codec::ParseCsr(csr_der).value()).value();
}

TEST_F(AdminCoreTest, EnrollWithARequestIdIssuesOnceWhateverTheRetries) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("build-agent-1"));
  enroll.set_request_id("3f1c9a52-7d7e-4c43-9a55-1b7f0e6d2c11");
  // The signer is down: nothing issued, and the request_id stays free.
  signer_.down = true;
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kUnavailable);
  signer_.down = false;
  const int before = signer_.issued.load();
  auto first = core_->Enroll(enroll, "ci");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->repeated_request());
  // The caller lost the answer and retries: the same certificate.
  auto again = core_->Enroll(enroll, "ci");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->repeated_request());
  EXPECT_EQ(again->certificate(), first->certificate());
  EXPECT_EQ(again->serial_hex(), first->serial_hex());
  EXPECT_EQ(signer_.issued.load(), before + 1);
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("action":"enroll_repeated")"));
  EXPECT_TRUE(absl::StrContains(audit_text_.str(),
                                R"("request_id":"3f1c9a52-7d7e-4c43-9a55-1b7f0e6d2c11")"));
  // The same request_id with another CSR: refused, nothing issued.
  v1::EnrollRequest other = enroll;
  other.set_csr(Csr("build-agent-2"));
  EXPECT_EQ(core_->Enroll(other, "ci").status().code(), absl::StatusCode::kAlreadyExists);
  // Scoped per profile; another request_id issues anew.
  other.set_profile("onetime");
  ASSERT_TRUE(core_->Enroll(other, "ci").ok());
  other.set_profile("default");
  other.set_request_id("another-id");
  auto fresh = core_->Enroll(other, "ci");
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->repeated_request());
  EXPECT_EQ(signer_.issued.load(), before + 3);
  // Without a request_id every call issues.
  other.clear_request_id();
  ASSERT_TRUE(core_->Enroll(other, "ci").ok());
  ASSERT_TRUE(core_->Enroll(other, "ci").ok());
  EXPECT_EQ(signer_.issued.load(), before + 5);
  // A request_id a device's SCEP transaction uses is not the same thing.
  ASSERT_EQ(transactions_->ClaimTransaction("default", "shared-id", "device-fp",
                                            absl::Hours(1))->state,
            Transaction::State::kClaimed);
  other.set_request_id("shared-id");
  EXPECT_TRUE(core_->Enroll(other, "ci").ok());
  // Bad request_ids.
  other.set_request_id("has space");
  EXPECT_EQ(core_->Enroll(other, "ci").status().code(), absl::StatusCode::kInvalidArgument);
  other.set_request_id(std::string(129, 'x'));
  EXPECT_EQ(core_->Enroll(other, "ci").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminCoreTest, EnrollRepeatedWhileTheFirstIsIssuingIsUnavailable) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("build-agent-3"));
  enroll.set_request_id("in-flight");
  // Another gateway pod holds the request_id, issuing right now.
  ASSERT_EQ(transactions_
                ->ClaimTransaction("admin.default", "in-flight",
                                   RequestIdFingerprintOf(enroll.csr()), absl::Hours(1))
                ->state,
            Transaction::State::kClaimed);
  const int before = signer_.issued.load();
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(signer_.issued.load(), before);
}

TEST_F(AdminCoreTest, EnrollThatLostItsClaimWhileIssuingReturnsTheRecordedCertificate) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("build-agent-4"));
  enroll.set_request_id("stalled");
  const std::string fp = RequestIdFingerprintOf(enroll.csr());
  // Issued first by a repeat on another pod, while this call was issuing.
  v1::EnrollRequest first = enroll;
  first.clear_request_id();
  const std::string theirs = core_->Enroll(first, "ci").value().certificate();
  bool stalled = false;
  signer_.before_issue = [&] {
    if (std::exchange(stalled, true)) return;
    ASSERT_TRUE(transactions_->ReleaseTransaction("admin.default", "stalled", fp).ok());
    ASSERT_EQ(transactions_->ClaimTransaction("admin.default", "stalled", fp,
                                              absl::Minutes(1))->state,
              Transaction::State::kClaimed);
    ASSERT_TRUE(transactions_->CompleteTransaction("admin.default", "stalled", fp, theirs,
                                                   absl::Hours(1)).ok());
  };
  auto enrolled = core_->Enroll(enroll, "ci");
  signer_.before_issue = nullptr;
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  EXPECT_EQ(enrolled->certificate(), theirs);
  EXPECT_TRUE(enrolled->repeated_request());
}

// A certificate whose request_id Redis did not record (completion
// unconfirmed by replicas, or left in the journal) is withheld, as the
// SCEP path does: handed out, a retry finding no record would get a
// second certificate. The retry gets this one once it is recorded.
TEST_F(AdminCoreTest, EnrollWhoseCompletionIsNotRecordedIsUnavailable) {
  gateway::testing::CountingStore store(transactions_.get());
  MakeCore(TestProfiles(), &store);
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("build-agent-5"));
  enroll.set_request_id("unconfirmed");
  const int before = signer_.issued.load();
  store.complete_result = redis::UnconfirmedWriteError("Redis CompleteTransaction: lost");
  auto withheld = core_->Enroll(enroll, "ci");
  EXPECT_EQ(withheld.status().code(), absl::StatusCode::kUnavailable) << withheld.status();
  EXPECT_EQ(signer_.issued.load(), before + 1);
  EXPECT_FALSE(absl::StrContains(audit_text_.str(), R"("action":"enroll")"));
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("action":"enroll_withheld")"));
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("request_id":"unconfirmed")"));
  store.complete_result = absl::OkStatus();
  auto retried = core_->Enroll(enroll, "ci");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->repeated_request());
  EXPECT_EQ(signer_.issued.load(), before + 1);  // the recorded certificate
  EXPECT_TRUE(index_.Get(retried->serial_hex()).value().has_value());

  enroll.set_request_id("journalled");
  enroll.set_csr(Csr("build-agent-6"));
  store.complete_result =
      absl::UnavailableError("Redis CompleteTransaction: not tried (kept, applied later)");
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kUnavailable);
}

// A certificate the index did not record is missing from inventory and
// cannot be revoked by serial: withheld, with or without a request_id, and
// the request_id stays free for the retry.
TEST_F(AdminCoreTest, EnrollWhoseCertificateIsNotIndexedIsUnavailable) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("build-agent-7"));
  index_.SetUnavailable(true);
  EXPECT_EQ(core_->Enroll(enroll, "ci").status().code(), absl::StatusCode::kUnavailable);
  enroll.set_request_id("unindexed");
  auto withheld = core_->Enroll(enroll, "ci");
  EXPECT_EQ(withheld.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(withheld.status().message(), "withheld"))
      << withheld.status();
  index_.SetUnavailable(false);
  auto retried = core_->Enroll(enroll, "ci");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->repeated_request());
  EXPECT_TRUE(index_.Get(retried->serial_hex()).value().has_value());
}

}  // namespace
}  // namespace scep::admin::testing
