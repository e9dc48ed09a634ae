#include "services/gateway/crl_cache.h"

#include <openssl/x509.h>

#include <set>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"

namespace scep::gateway {
namespace {

// Serials listed by a DER CRL.
std::set<std::string> Listed(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(crl, nullptr);
  std::set<std::string> serials;
  if (crl == nullptr) return serials;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    serials.insert(codec::SerialHex(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  X509_CRL_free(crl);
  return serials;
}

class CurrentCrlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // notAfter 2027-11-25 12:21:17 UTC.
    absl::StatusOr<crypto::X509Ptr> cert =
        crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/strongswan-issued.pem");
    ASSERT_TRUE(cert.ok()) << cert.status();
    redis::CertificateRecord record;
    record.certificate = crypto::ToDer(cert->get(), i2d_X509).value();
    record.profile = "default";
    not_after_ = absl::FromCivil(absl::CivilSecond(2027, 11, 25, 12, 21, 17),
                                 absl::UTCTimeZone());
    ASSERT_TRUE(index_.Put("0e01", record, absl::Hours(1)).ok());
    ASSERT_TRUE(index_.Revoke("0e01", 1, not_after_ - absl::Hours(24 * 30)).ok());
    // Not a certificate: expiry unknown, listed for good.
    record.certificate = "not a certificate";
    ASSERT_TRUE(index_.Put("0e02", record, absl::Hours(1)).ok());
    ASSERT_TRUE(index_.Revoke("0e02", 1, not_after_ - absl::Hours(24 * 30)).ok());
  }

  // A revocation of another certificate: the next CRL is signed afresh.
  void RevokeAnother(const std::string& serial) {
    redis::CertificateRecord record;
    record.certificate = "another";
    ASSERT_TRUE(index_.Put(serial, record, absl::Hours(1)).ok());
    ASSERT_TRUE(index_.Revoke(serial, 0, absl::Now()).ok());
  }

  std::set<std::string> CrlAt(absl::Time now) {
    absl::StatusOr<std::string> der = CurrentCrl(signer_, index_, kValidity, now);
    EXPECT_TRUE(der.ok()) << der.status();
    return der.ok() ? Listed(*der) : std::set<std::string>();
  }

  static constexpr absl::Duration kValidity = absl::Hours(168);
  testing::InProcessSigner signer_;
  redis::MemoryCertificateIndex index_;
  absl::Time not_after_;
};

TEST_F(CurrentCrlTest, ExpiredRevocationLeavesAfterOneCrlPastItsExpiry) {
  EXPECT_EQ(CrlAt(not_after_ - absl::Hours(48)), (std::set<std::string>{"0e01", "0e02"}));
  // The first CRL issued after the certificate expired still lists it.
  RevokeAnother("0f01");
  EXPECT_EQ(CrlAt(not_after_ + absl::Hours(1)),
            (std::set<std::string>{"0e01", "0e02", "0f01"}));
  // The next one need not (RFC 5280 section 3.3), and the index forgets it.
  RevokeAnother("0f02");
  EXPECT_EQ(CrlAt(not_after_ + absl::Hours(2)),
            (std::set<std::string>{"0e02", "0f01", "0f02"}));
  std::set<std::string> listed;
  const std::vector<redis::RevokedSerial> revoked = index_.ListRevoked().value();
  for (const redis::RevokedSerial& r : revoked) listed.insert(r.serial_hex);
  EXPECT_EQ(listed, (std::set<std::string>{"0e02", "0f01", "0f02"}));
  EXPECT_TRUE(index_.Get("0e01").value()->revoked);  // the record stays revoked
}

TEST_F(CurrentCrlTest, WithoutAnEarlierCrlNothingIsDropped) {
  // Long expired, but no CRL known to have listed it after its expiry.
  EXPECT_EQ(CrlAt(not_after_ + absl::Hours(24 * 365)),
            (std::set<std::string>{"0e01", "0e02"}));
}

}  // namespace
}  // namespace scep::gateway
