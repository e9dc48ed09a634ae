#include "services/gateway/crl_cache.h"

#include <openssl/x509.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
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
    absl::StatusOr<SignedCrl> crl = CurrentCrl(signer_, index_, kValidity, now);
    EXPECT_TRUE(crl.ok()) << crl.status();
    return crl.ok() ? Listed(*crl->der) : std::set<std::string>();
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

// SignCrl taking `delay`, counted; everything else as `inner`.
class SlowCrlSigner final : public SignerClient {
 public:
  explicit SlowCrlSigner(SignerClient* inner) : inner_(inner) {}
  absl::StatusOr<CaCertificatesDer> GetCertificates() override {
    return inner_->GetCertificates();
  }
  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) override {
    return inner_->Decrypt(enveloped);
  }
  absl::StatusOr<std::string> Issue(const IssueRequest& request) override {
    return inner_->Issue(request);
  }
  absl::StatusOr<std::string> SignCertRep(absl::string_view content,
                                          const codec::ScepAttributes& attributes,
                                          absl::string_view digest) override {
    return inner_->SignCertRep(content, attributes, digest);
  }
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    signed_.fetch_add(1);
    absl::SleepFor(delay);
    if (down.load()) return absl::UnavailableError("signer down (test)");
    return inner_->SignCrl(request);
  }
  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override {
    return inner_->SignOcsp(request);
  }
  int signed_count() const { return signed_.load(); }
  std::atomic<bool> down{false};  // SignCrl answers Unavailable after its delay
  absl::Duration delay = absl::Milliseconds(100);  // set before the calls

 private:
  SignerClient* const inner_;
  std::atomic<int> signed_{0};
};

// The CRL kept in the process answers while it is current, without reading
// it from the index; a new one is signed once however many ask at once.
TEST_F(CurrentCrlTest, CrlCacheSignsOnceAndServesFromMemory) {
  SlowCrlSigner signer(&signer_);
  CrlCache cache(&signer, &index_, kValidity);
  const absl::Time now = not_after_ - absl::Hours(48);
  absl::StatusOr<std::shared_ptr<const std::string>> first = cache.Get(now);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(signer.signed_count(), 1);
  // Another CRL of the same generation in the index (as another gateway
  // might write): the kept one is served, the index is not read for it.
  redis::CachedCrl other = index_.GetCachedCrl().value().value();
  other.der = "not read";
  ASSERT_TRUE(index_.PutCachedCrl(other).ok());
  absl::StatusOr<std::shared_ptr<const std::string>> again = cache.Get(now + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->get(), first->get());  // the same bytes, not a copy
  EXPECT_EQ(signer.signed_count(), 1);

  // A revocation: eight requests at once, one signature.
  RevokeAnother("0f09");
  std::vector<std::thread> threads;
  std::atomic<int> listing{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::shared_ptr<const std::string>> crl = cache.Get(now + absl::Hours(2));
      if (crl.ok() && Listed(**crl).contains("0f09")) listing.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(listing.load(), 8);
  EXPECT_EQ(signer.signed_count(), 2);

  // Half its validity gone: signed again.
  ASSERT_TRUE(cache.Get(now + absl::Hours(3) + kValidity / 2).ok());
  EXPECT_EQ(signer.signed_count(), 3);
}

// The signer down while a CRL is due: requests at once share one attempt
// and its failure, rather than each making its own call in turn (behind
// one lock, eight requests took eight signer deadlines end to end).
TEST_F(CurrentCrlTest, CrlCacheSharesAFailedBuild) {
  SlowCrlSigner signer(&signer_);
  signer.down = true;
  signer.delay = absl::Milliseconds(300);  // every thread starts well within it
  CrlCache cache(&signer, &index_, kValidity);
  std::vector<std::thread> threads;
  std::atomic<int> unavailable{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<std::shared_ptr<const std::string>> crl = cache.Get();
      if (absl::IsUnavailable(crl.status())) unavailable.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(unavailable.load(), 8);
  EXPECT_LE(signer.signed_count(), 2);  // one build (a late thread may start a second)
  // Once the signer is back, the next request builds afresh.
  signer.down = false;
  EXPECT_TRUE(cache.Get().ok());
}

}  // namespace
}  // namespace scep::gateway
