// RestoreCertificates: a certificate index Redis lost, rebuilt from the
// certificates the signer's audit trail kept.

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/crypto/der.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core.h"
#include "services/admin/admin_core_test_fixture.h"

namespace scep::admin::testing {
namespace {

class AdminRestoreTest : public AdminCoreTest {
 protected:
  v1::EnrollResponse Issue(const std::string& profile, const std::string& cn) {
    v1::EnrollRequest enroll;
    enroll.set_profile(profile);
    enroll.set_csr(Csr(cn));
    absl::StatusOr<v1::EnrollResponse> issued = core_->Enroll(enroll, "token");
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued.value_or(v1::EnrollResponse());
  }

  static std::string Pem(const std::string& der) {
    crypto::X509Ptr cert = crypto::FromDer<crypto::X509Ptr>(der, d2i_X509, "issued").value();
    crypto::BioPtr bio(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_X509(bio.get(), cert.get()), 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(len));
  }

  static void Add(v1::RestoreCertificatesRequest& request, const std::string& certificate,
                  const std::string& profile) {
    v1::RestoreCertificatesRequest::Entry* entry = request.add_certificates();
    entry->set_certificate(certificate);
    entry->set_profile(profile);
  }

  std::string ProfileOf(const std::string& serial) {
    v1::GetCertificateRequest get;
    get.set_serial_hex(serial);
    absl::StatusOr<v1::Certificate> got = core_->GetCertificate(get, "token");
    return got.ok() ? got->profile() : std::string(got.status().message());
  }
};

TEST_F(AdminRestoreTest, RecordsAgainWhatTheIndexLostUnlessRevoked) {
  const v1::EnrollResponse laptop = Issue("default", "laptop");
  const v1::EnrollResponse kiosk = Issue("onetime", "kiosk");
  const v1::EnrollResponse stolen = Issue("default", "stolen");
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex(stolen.serial_hex());
  revoke.set_reason(1);
  ASSERT_TRUE(core_->RevokeCertificate(revoke, "token").ok());
  const absl::Time revoked_at = index_.GetRevoked(stolen.serial_hex()).value()->revoked_at;
  index_.LoseEverything();
  // The revocations come back first (from a CRL), as the README says.
  ASSERT_EQ(*index_.RestoreRevoked({{stolen.serial_hex(), revoked_at, 1}}, 1), 1);

  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  const std::string foreign = crypto::ToDer(
      codec::SelfSignedCertificate(key.get(), "laptop").value().get(), i2d_X509).value();
  v1::RestoreCertificatesRequest request;
  Add(request, laptop.certificate(), "");          // 0: DER, the default profile
  Add(request, Pem(kiosk.certificate()), "onetime");  // 1: PEM
  Add(request, stolen.certificate(), "default");   // 2: on the revocation list
  Add(request, foreign, "default");                // 3: not this CA's
  Add(request, "garbage", "default");              // 4: not a certificate
  Add(request, kiosk.certificate(), "retired");    // 5: no such profile
  Add(request, laptop.certificate(), "default");   // 6: recorded by 0 already
  absl::StatusOr<v1::RestoreCertificatesResponse> restored =
      core_->RestoreCertificates(request, "token");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->restored(), 2);
  EXPECT_EQ(restored->revoked(), 1);
  EXPECT_EQ(restored->indexed(), 1);
  EXPECT_EQ(restored->expired(), 0);
  ASSERT_EQ(restored->refused_size(), 3);
  EXPECT_TRUE(absl::StartsWith(restored->refused(0), "certificate 3 (serial "))
      << restored->refused(0);
  EXPECT_TRUE(absl::StrContains(restored->refused(0), "not issued by the CA of profile default"));
  EXPECT_TRUE(absl::StartsWith(restored->refused(1), "certificate 4: certificate"))
      << restored->refused(1);
  EXPECT_TRUE(absl::StartsWith(restored->refused(2), "certificate 5 (serial " +
                                                         kiosk.serial_hex() + ")"))
      << restored->refused(2);

  EXPECT_EQ(ProfileOf(laptop.serial_hex()), "default");
  EXPECT_EQ(ProfileOf(kiosk.serial_hex()), "onetime");
  // The revoked one is recorded as revoked (the inventory lists it so), and
  // its restored list entry, which had none, gains the notAfter.
  std::optional<redis::CertificateRecord> revoked = index_.Get(stolen.serial_hex()).value();
  ASSERT_TRUE(revoked.has_value());
  EXPECT_TRUE(revoked->revoked);
  EXPECT_EQ(revoked->revoked_at, revoked_at);
  v1::GetCertificateRequest get;
  get.set_serial_hex(stolen.serial_hex());
  EXPECT_EQ(core_->GetCertificate(get, "token")->status(), v1::CERTIFICATE_STATUS_REVOKED);
  EXPECT_NE(index_.GetRevoked(stolen.serial_hex()).value()->not_after, absl::InfiniteFuture());
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("action":"restore_certificates")"));
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("restored":2)")) << audit_text_.str();

  // Harmless twice: nothing new.
  restored = core_->RestoreCertificates(request, "token");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->restored(), 0);
  EXPECT_EQ(restored->indexed(), 4);
  EXPECT_EQ(restored->revoked(), 0);
}

TEST_F(AdminRestoreTest, SkipsWhatTheIndexWouldNoLongerKeepAndBoundsTheCall) {
  const v1::EnrollResponse old = Issue("default", "decommissioned");
  index_.LoseEverything();
  // A gateway whose index keeps expired certificates for less than nothing:
  // every certificate is past that.
  AdminDeps deps;
  deps.index = &index_;
  deps.profiles = profiles_.get();
  deps.issuer = &issuer_;
  deps.ca = &ca_;
  deps.audit = &audit_;
  AdminOptions options;
  options.index_grace = -absl::Hours(24 * 3650);
  AdminCore strict(options, deps);
  v1::RestoreCertificatesRequest request;
  Add(request, old.certificate(), "default");
  absl::StatusOr<v1::RestoreCertificatesResponse> restored =
      strict.RestoreCertificates(request, "token");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->expired(), 1);
  EXPECT_EQ(restored->restored(), 0);
  EXPECT_FALSE(index_.Get(old.serial_hex())->has_value());

  for (int i = 0; i < 1000; ++i) Add(request, old.certificate(), "default");
  EXPECT_EQ(core_->RestoreCertificates(request, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(index_.Get(old.serial_hex())->has_value()) << "refused whole";
}

}  // namespace
}  // namespace scep::admin::testing
