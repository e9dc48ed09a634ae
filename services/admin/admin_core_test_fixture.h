#ifndef SCEP_SERVICES_ADMIN_ADMIN_CORE_TEST_FIXTURE_H_
#define SCEP_SERVICES_ADMIN_ADMIN_CORE_TEST_FIXTURE_H_

// An AdminCore over in-memory stores and the in-process signer, shared by
// admin_core_test.cc and admin_enroll_test.cc.

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "common/redis/memory_request_store.h"
#include "common/redis/notice_outbox.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core.h"
#include "services/gateway/in_process_signer.h"

namespace scep::admin::testing {

using Profile = gateway::Profile;
using ApprovalRequest = redis::ApprovalRequest;
using Transaction = redis::Transaction;

inline constexpr absl::StatusCode kFailedPrecondition = absl::StatusCode::kFailedPrecondition;

inline std::vector<Profile> TestProfiles() {
  Profile by_secret;
  by_secret.name = "default";
  by_secret.challenge = "static-secret";
  Profile onetime;
  onetime.name = "onetime";
  onetime.challenge_mode = Profile::ChallengeMode::kOneTime;
  onetime.subject = {{"O", "Example Fleet"}, {"CN", "{CN}"}};
  onetime.key_usage = {"digitalSignature"};
  Profile approval;
  approval.name = "approval";
  approval.approval = Profile::Approval::kManual;
  approval.approval_ttl = absl::Hours(1);
  return {by_secret, onetime, approval};
}

// The in-memory index, whose Get fails with `get_error` when that is not
// OK (Redis down).
class FailableIndex : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<std::optional<redis::CertificateRecord>> Get(
      absl::string_view serial_hex) override {
    if (!get_error.ok()) return get_error;
    return MemoryCertificateIndex::Get(serial_hex);
  }

  absl::Status get_error;
};

class AdminCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.Refresh(signer_).ok());
    MakeCore(TestProfiles());
  }

  // (Again) the core under test, serving `profiles`, its transactions in
  // `transactions` (null: transactions_).
  void MakeCore(std::vector<Profile> profiles, redis::EnrollmentStore* transactions = nullptr) {
    core_.reset();
    profiles_ = gateway::ProfileSet::New(std::move(profiles)).value();
    AdminDeps deps;
    deps.requests = &requests_;
    deps.challenges = &challenges_;
    deps.transactions = transactions != nullptr ? transactions : transactions_.get();
    deps.index = &index_;
    deps.signer = &signer_;
    deps.profiles = profiles_.get();
    deps.issuer = &issuer_;
    deps.ca = &ca_;
    deps.audit = &audit_;
    deps.notices = &notices_;
    core_ = std::make_unique<AdminCore>(AdminOptions(), deps);
  }

  static std::string Csr(const std::string& cn) {
    crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
    codec::CsrSpec spec;
    spec.common_name = cn;
    return codec::BuildCsr(key.get(), spec).value();
  }

  // What the gateway does for a PKCSReq under manual approval.
  void Queue(const std::string& tid, const std::string& cn) {
    ApprovalRequest r;
    r.profile = "approval";
    r.transaction_id = tid;
    r.csr = Csr(cn);
    r.fingerprint = codec::ParseCsr(r.csr).value().fingerprint;
    r.subject = "CN=" + cn;
    ASSERT_EQ(transactions_->ClaimTransaction("approval", tid, r.fingerprint,
                                              absl::Hours(1))->state,
              Transaction::State::kClaimed);
    ASSERT_TRUE(requests_.Create(r, absl::Hours(1)).ok());
  }

  v1::ApproveRequestRequest Approve(const std::string& tid) {
    v1::ApproveRequestRequest a;
    a.set_profile("approval");
    a.set_transaction_id(tid);
    return a;
  }

  ApprovalRequest::Status StatusOf(const std::string& tid) {
    return requests_.Get("approval", tid).value()->status;
  }

  gateway::testing::InProcessSigner signer_;
  gateway::CaCertificates ca_;
  std::unique_ptr<gateway::ProfileSet> profiles_;
  redis::MemoryRequestStore requests_;
  redis::MemoryChallengeStore challenges_;
  std::unique_ptr<redis::MemoryEnrollmentStore> transactions_ =
      redis::MemoryEnrollmentStore::New();
  FailableIndex index_;
  gateway::ProfileIssuer issuer_{&signer_, &index_};
  redis::MemoryNoticeOutbox notices_;
  std::ostringstream audit_text_;
  metrics::JsonLogger audit_{&audit_text_};
  std::unique_ptr<AdminCore> core_;
};

}  // namespace scep::admin::testing

#endif  // SCEP_SERVICES_ADMIN_ADMIN_CORE_TEST_FIXTURE_H_
