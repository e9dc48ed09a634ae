// What the admin API refuses as input: filters naming nothing that exists
// and free text too long to log.

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core_test_fixture.h"

namespace scep::admin::testing {
namespace {

// As ListRequests: an undefined status is INVALID_ARGUMENT and an unknown
// profile NOT_FOUND, not an empty list (before, both answered OK/empty).
TEST_F(AdminCoreTest, ListCertificatesRefusesWhatListRequestsRefuses) {
  v1::ListCertificatesRequest certificates;
  certificates.set_status(static_cast<v1::CertificateStatus>(99));
  EXPECT_EQ(core_->ListCertificates(certificates, "op").status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListRequestsRequest requests;
  requests.set_status(static_cast<v1::RequestStatus>(99));
  EXPECT_EQ(core_->ListRequests(requests, "op").status().code(),
            absl::StatusCode::kInvalidArgument);

  certificates.set_status(v1::CERTIFICATE_STATUS_UNSPECIFIED);
  certificates.set_profile("nosuch");
  absl::Status unknown = core_->ListCertificates(certificates, "op").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_TRUE(absl::StrContains(unknown.message(), "nosuch")) << unknown;
  requests.set_status(v1::REQUEST_STATUS_UNSPECIFIED);
  requests.set_profile("nosuch");
  EXPECT_EQ(core_->ListRequests(requests, "op").status().code(), absl::StatusCode::kNotFound);

  // Every defined status and a configured profile still list.
  certificates.set_profile("onetime");
  for (v1::CertificateStatus status :
       {v1::CERTIFICATE_STATUS_UNSPECIFIED, v1::CERTIFICATE_STATUS_VALID,
        v1::CERTIFICATE_STATUS_REVOKED, v1::CERTIFICATE_STATUS_EXPIRED}) {
    certificates.set_status(status);
    EXPECT_TRUE(core_->ListCertificates(certificates, "op").ok()) << status;
  }
}

// Free text bound for an audit line (and a challenge's subject for Redis)
// is bounded: above 1 KiB it is INVALID_ARGUMENT and nothing is logged
// or stored; within it, it is logged whole.
TEST_F(AdminCoreTest, ReasonsAndSubjectsAreBounded) {
  Queue("tid-b1", "dev-b1");
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id("tid-b1");
  reject.set_reason(std::string(1025, 'r'));
  absl::Status refused = core_->RejectRequest(reject, "op").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "reason")) << refused;
  EXPECT_EQ(StatusOf("tid-b1"), ApprovalRequest::Status::kRequested);
  const std::string reason = "duplicate of " + std::string(1024 - 13, 'x');
  reject.set_reason(reason);
  ASSERT_TRUE(core_->RejectRequest(reject, "op").ok());
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), reason)) << "reason cut in the audit line";

  v1::CreateChallengeRequest challenge;
  challenge.set_profile("onetime");
  std::string subject = "CN=laptop-7";
  while (subject.size() <= 1024) subject += ", OU=fleet";
  challenge.set_subject(subject);
  absl::Status too_long = core_->CreateChallenge(challenge, "op").status();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument) << too_long;
  EXPECT_TRUE(absl::StrContains(too_long.message(), "subject")) << too_long;
  EXPECT_FALSE(absl::StrContains(audit_text_.str(), "create_challenge"));
  challenge.set_subject("O=Example Fleet, CN=laptop-7");
  EXPECT_TRUE(core_->CreateChallenge(challenge, "op").ok());
}

}  // namespace
}  // namespace scep::admin::testing
