// What the admin API refuses as input: filters naming nothing that
// exists.

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

}  // namespace
}  // namespace scep::admin::testing
