// The CertificateIndex contract, against the in-process fake and a real
// redis-server (what only the Redis index does: redis_certificate_index_test.cc).

#include <openssl/x509.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_test_server.h"
#include "common/redis/redis_test_start.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

// The same contract against the in-process fake and a real redis-server.
class CertificateIndexTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!GetParam()) {
      index_ = std::make_unique<MemoryCertificateIndex>();
      return;
    }
    StartRedis(&server_);
    if (server_ == nullptr) return;
    RedisOptions options;
    options.port = server_->port();
    index_ = RedisCertificateIndex::New(options).value();
  }

  CertificateRecord Record(const std::string& der) {
    CertificateRecord r;
    r.certificate = der;
    r.profile = "default";
    return r;
  }

  std::unique_ptr<RedisTestServer> server_;
  std::unique_ptr<CertificateIndex> index_;
};

TEST_P(CertificateIndexTest, PutGetRevokeList) {
  const std::string der("\x30\x82\0\x01 binary", 12);
  ASSERT_TRUE(index_->Put("0a1b", Record(der), absl::Hours(1)).ok());
  auto got = index_->Get("0a1b");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->certificate, der);
  EXPECT_EQ((*got)->profile, "default");
  EXPECT_FALSE((*got)->revoked);
  EXPECT_FALSE(index_->Get("ffff").value().has_value());
  EXPECT_EQ(index_->RevocationGeneration().value(), 0);

  const absl::Time when = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<RevokeResult> first = index_->Revoke("0a1b", 1, when);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->newly_revoked);
  EXPECT_FALSE(first->reason_changed);
  EXPECT_EQ(first->reason, 1);
  EXPECT_EQ(first->revoked_at, when);
  EXPECT_EQ(index_->RevocationGeneration().value(), 1);
  got = index_->Get("0a1b");
  EXPECT_TRUE((*got)->revoked);
  EXPECT_EQ((*got)->reason, 1);
  EXPECT_EQ((*got)->revoked_at, when);
  // Idempotent, and says so with the revocation that stands (first time
  // and reason); a late Put does not un-revoke.
  absl::StatusOr<RevokeResult> again = index_->Revoke("0a1b", 4, when + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->newly_revoked);
  EXPECT_FALSE(again->reason_changed);
  EXPECT_EQ(again->reason, 1);
  EXPECT_EQ(again->revoked_at, when);
  ASSERT_TRUE(index_->Put("0a1b", Record("other"), absl::Hours(1)).ok());
  got = index_->Get("0a1b");
  EXPECT_TRUE((*got)->revoked);
  EXPECT_EQ((*got)->reason, 1);
  EXPECT_EQ((*got)->certificate, der);
  EXPECT_EQ(index_->RevocationGeneration().value(), 1);
  EXPECT_EQ(index_->Revoke("beef", 0, when).status().code(), absl::StatusCode::kNotFound);

  auto revoked = index_->ListRevoked();
  ASSERT_TRUE(revoked.ok());
  ASSERT_EQ(revoked->size(), 1u);
  EXPECT_EQ((*revoked)[0].serial_hex, "0a1b");
  EXPECT_EQ((*revoked)[0].reason, 1);
  EXPECT_EQ((*revoked)[0].revoked_at, when);
  // Not a certificate: its expiry is unknown, so it stays on every CRL.
  EXPECT_EQ((*revoked)[0].not_after, absl::InfiniteFuture());
}

// A revoked certificate keeps its revocation time; its reason changes only
// to keyCompromise (found after revoking for another reason), in its record
// and on the next CRL (a new generation), never away from it.
TEST_P(CertificateIndexTest, OnlyKeyCompromiseReplacesTheReasonOfARevocation) {
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/strongswan-issued.pem");
  ASSERT_TRUE(cert.ok()) << cert.status();
  const std::string der = crypto::ToDer(cert->get(), i2d_X509).value();
  ASSERT_TRUE(index_->Put("0e", Record(der), absl::Hours(1)).ok());
  const absl::Time when = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(index_->Revoke("0e", 4, when).value().newly_revoked);  // superseded
  const int64_t generation = index_->RevocationGeneration().value();

  for (int other : {0, 3, 6, 4}) {  // no other reason replaces it
    RevokeResult kept = index_->Revoke("0e", other, when + absl::Hours(1)).value();
    EXPECT_FALSE(kept.newly_revoked || kept.reason_changed) << other;
    EXPECT_EQ(kept.reason, 4) << other;
  }
  EXPECT_EQ(index_->RevocationGeneration().value(), generation);

  RevokeResult raised = index_->Revoke("0e", 1, when + absl::Hours(2)).value();
  EXPECT_FALSE(raised.newly_revoked);
  EXPECT_TRUE(raised.reason_changed);
  EXPECT_EQ(raised.reason, 1);
  EXPECT_EQ(raised.revoked_at, when);
  EXPECT_EQ(index_->RevocationGeneration().value(), generation + 1);
  CertificateRecord record = index_->Get("0e").value().value();
  EXPECT_EQ(record.reason, 1);
  EXPECT_EQ(record.revoked_at, when);
  RevokedSerial listed = index_->GetRevoked("0e").value().value();
  EXPECT_EQ(listed.reason, 1);
  EXPECT_EQ(listed.revoked_at, when);
  EXPECT_EQ(listed.not_after, CertificateNotAfter(der).value());
  std::vector<RevokedSerial> all = index_->ListRevoked().value();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].reason, 1);

  // keyCompromise it stays.
  RevokeResult again = index_->Revoke("0e", 1, when + absl::Hours(3)).value();
  EXPECT_FALSE(again.newly_revoked || again.reason_changed);
  RevokeResult back = index_->Revoke("0e", 4, when + absl::Hours(3)).value();
  EXPECT_FALSE(back.newly_revoked || back.reason_changed);
  EXPECT_EQ(back.reason, 1);
  EXPECT_EQ(index_->RevocationGeneration().value(), generation + 1);
}

// A real certificate (tests/testdata, notAfter 2027-11-25 12:21:17 UTC):
// its revocation carries its notAfter, and a forgotten one leaves
// ListRevoked while its record stays revoked.
TEST_P(CertificateIndexTest, RevocationsCarryNotAfterAndCanBeForgotten) {
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/strongswan-issued.pem");
  ASSERT_TRUE(cert.ok()) << cert.status();
  const std::string der = crypto::ToDer(cert->get(), i2d_X509).value();
  const absl::Time not_after = absl::FromCivil(absl::CivilSecond(2027, 11, 25, 12, 21, 17),
                                               absl::UTCTimeZone());
  EXPECT_EQ(CertificateNotAfter(der).value(), not_after);
  EXPECT_EQ(CertificateNotAfter("junk").status().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(index_->Put("0c", Record(der), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Put("0d", Record(der), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Revoke("0c", 1, absl::Now()).ok());
  ASSERT_TRUE(index_->Revoke("0d", 4, absl::Now()).ok());
  auto revoked = index_->ListRevoked();
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->size(), 2u);
  for (const RevokedSerial& entry : *revoked) EXPECT_EQ(entry.not_after, not_after);

  ASSERT_TRUE(index_->ForgetRevoked({"0c", "ffff"}).ok());  // unknown: ignored
  revoked = index_->ListRevoked();
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->size(), 1u);
  EXPECT_EQ((*revoked)[0].serial_hex, "0d");
  EXPECT_TRUE(index_->Get("0c").value()->revoked);
  EXPECT_FALSE(index_->GetRevoked("0c").value().has_value());
  EXPECT_EQ(index_->GetRevoked("0d").value()->not_after, not_after);
  EXPECT_EQ(index_->ForgetRevoked({"NOT-HEX"}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(CertificateIndexTest, CrlNumbersAndCache) {
  EXPECT_EQ(index_->NextCrlNumber().value(), 1u);
  EXPECT_EQ(index_->NextCrlNumber().value(), 2u);
  EXPECT_FALSE(index_->GetCachedCrl().value().has_value());
  CachedCrl crl{3, std::string("crl\0der", 7), absl::FromUnixSeconds(1'900'000'000),
                absl::FromUnixSeconds(1'800'000'000), 7};
  EXPECT_TRUE(index_->PutCachedCrl(crl).value());
  // A CRL numbered below the cached one, or the same number, is not cached,
  // whatever generation it covers: another gateway signed a later CRL.
  EXPECT_FALSE(index_->PutCachedCrl({2, "older", absl::FromUnixSeconds(1), {}, 6}).value());
  EXPECT_FALSE(index_->PutCachedCrl({4, "same number", absl::FromUnixSeconds(1), {}, 7}).value());
  auto cached = index_->GetCachedCrl().value();
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->generation, 3);
  EXPECT_EQ(cached->der, crl.der);
  EXPECT_EQ(cached->next_update, crl.next_update);
  EXPECT_EQ(cached->this_update, crl.this_update);
  EXPECT_EQ(cached->number, 7u);
  // A higher number replaces it, even of the same generation (re-signed
  // for freshness).
  EXPECT_TRUE(index_->PutCachedCrl({3, "later", absl::FromUnixSeconds(2), {}, 8}).value());
  EXPECT_EQ(index_->GetCachedCrl().value()->der, "later");
  EXPECT_EQ(index_->GetCachedCrl().value()->number, 8u);
  // The counter (at 2) never numbers a CRL below the cached one's.
  EXPECT_EQ(index_->NextCrlNumber().value(), 9u);
  EXPECT_EQ(index_->NextCrlNumber().value(), 10u);
}

// Disaster recovery: revocations read back from a CRL. Those the list
// lacks are recorded (a certificate still indexed becomes revoked), the
// others are left as they are, and the cRLNumber counter moves past the
// CRL's number.
TEST_P(CertificateIndexTest, RestoreRevokedRecordsWhatIsMissing) {
  const absl::Time t1 = absl::FromUnixSeconds(1'800'000'001);
  const absl::Time t2 = absl::FromUnixSeconds(1'800'000'002);
  const absl::Time t3 = absl::FromUnixSeconds(1'800'000'003);
  ASSERT_TRUE(index_->Put("0a", Record("der-a"), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Put("0b", Record("der-b"), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Revoke("0b", 4, t2).ok());
  const int64_t generation = index_->RevocationGeneration().value();
  const std::vector<RevokedSerial> entries = {
      {"0a", t1, 1}, {"0b", t3, 9}, {"0c", t3, 5}};
  EXPECT_EQ(index_->RestoreRevoked(entries, 41).value(), 2);
  EXPECT_GT(index_->RevocationGeneration().value(), generation);
  auto a = index_->Get("0a").value();
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->revoked);
  EXPECT_EQ(a->reason, 1);
  EXPECT_EQ(a->revoked_at, t1);
  std::map<std::string, RevokedSerial> listed;
  const std::vector<RevokedSerial> revoked = index_->ListRevoked().value();
  for (const RevokedSerial& r : revoked) listed[r.serial_hex] = r;
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed["0b"].reason, 4);  // as it was revoked, not as restored
  EXPECT_EQ(listed["0b"].revoked_at, t2);
  EXPECT_EQ(listed["0c"].reason, 5);
  EXPECT_EQ(listed["0c"].revoked_at, t3);
  EXPECT_EQ(listed["0c"].not_after, absl::InfiniteFuture());  // a CRL does not say
  EXPECT_EQ(index_->NextCrlNumber().value(), 42u);
  // Each serial's entry, with or without its certificate.
  std::optional<RevokedSerial> c = index_->GetRevoked("0c").value();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->reason, 5);
  EXPECT_EQ(c->revoked_at, t3);
  std::optional<RevokedSerial> b = index_->GetRevoked("0b").value();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->reason, 4);
  EXPECT_FALSE(index_->GetRevoked("0d").value().has_value());
  EXPECT_EQ(index_->GetRevoked("NOT-HEX").status().code(), absl::StatusCode::kInvalidArgument);
  // Again: nothing missing, the generation stays.
  const int64_t after = index_->RevocationGeneration().value();
  EXPECT_EQ(index_->RestoreRevoked(entries, 41).value(), 0);
  EXPECT_EQ(index_->RevocationGeneration().value(), after);
  EXPECT_EQ(index_->RestoreRevoked({{"NOT-HEX", t1, 0}}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A certificate recorded again after Redis lost it, whose revocation a CRL
// restored meanwhile: written revoked with the list's date and reason (a
// renewal check must not find it valid), and the list entry, which a CRL
// left without notAfter, gains the certificate's.
TEST_P(CertificateIndexTest, PutOfASerialOnTheRevocationListRecordsItRevoked) {
  absl::StatusOr<crypto::X509Ptr> cert =
      crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/strongswan-issued.pem");
  ASSERT_TRUE(cert.ok()) << cert.status();
  const std::string der = crypto::ToDer(cert->get(), i2d_X509).value();
  const absl::Time t1 = absl::FromUnixSeconds(1'800'000'001);
  ASSERT_EQ(index_->RestoreRevoked({{"1a", t1, 1}, {"1b", t1, 4}}, 3).value(), 2);
  ASSERT_TRUE(index_->Put("1a", Record(der), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Put("1c", Record(der), absl::Hours(1)).ok());  // not listed
  std::optional<CertificateRecord> a = index_->Get("1a").value();
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->revoked);
  EXPECT_EQ(a->reason, 1);
  EXPECT_EQ(a->revoked_at, t1);
  EXPECT_FALSE(index_->Get("1c").value()->revoked);
  const absl::Time not_after = CertificateNotAfter(der).value();
  EXPECT_EQ(index_->GetRevoked("1a").value()->not_after, not_after);
  EXPECT_EQ(index_->GetRevoked("1a").value()->revoked_at, t1);
  EXPECT_EQ(index_->GetRevoked("1b").value()->not_after, absl::InfiniteFuture());
  std::map<std::string, RevokedSerial> listed;
  const std::vector<RevokedSerial> revoked = index_->ListRevoked().value();
  for (const RevokedSerial& r : revoked) listed[r.serial_hex] = r;
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed["1a"].not_after, not_after);
  EXPECT_EQ(listed["1a"].reason, 1);
  // Written again (a retransmission's late Put): still revoked.
  ASSERT_TRUE(index_->Put("1a", Record(der), absl::Hours(1)).ok());
  EXPECT_TRUE(index_->Get("1a").value()->revoked);
}

TEST_P(CertificateIndexTest, RejectsMalformedSerials) {
  EXPECT_EQ(index_->Get("XYZ").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Get(std::string(41, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(CertificateIndexTest, UnavailableWhenRedisIsDown) {
  if (!GetParam()) {
    static_cast<MemoryCertificateIndex*>(index_.get())->SetUnavailable(true);
  } else {
    server_->Kill();
  }
  EXPECT_EQ(index_->Get("0a").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(index_->Revoke("0a", 0, absl::Now()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(index_->ListRevoked().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(index_->GetRevoked("0a").status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(CertificateIndexTest, ListsByProfileAndStatusInPages) {
  std::vector<std::string> serials;
  for (int i = 0; i < 5; ++i) {
    CertificateRecord r = Record("der-" + std::to_string(i));
    r.profile = i % 2 == 0 ? "even" : "odd";
    serials.push_back("a" + std::to_string(i));
    ASSERT_TRUE(index_->Put(serials.back(), r, absl::Hours(1)).ok());
    absl::SleepFor(absl::Milliseconds(2));  // distinct scores on Redis
  }
  // A re-Put (retransmission) keeps its place in the listing.
  ASSERT_TRUE(index_->Put("a0", Record("der-0"), absl::Hours(1)).ok());
  ASSERT_TRUE(index_->Revoke("a2", 1, absl::Now()).ok());

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = index_->List("", std::nullopt, token, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const CertificateListing& c : page->certificates) seen.push_back(c.serial_hex);
    token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_EQ(seen, serials);
  EXPECT_EQ(pages, 3);

  auto even = index_->List("even", std::nullopt, "", 10);
  ASSERT_TRUE(even.ok()) << even.status();
  ASSERT_EQ(even->certificates.size(), 3u);
  EXPECT_EQ(even->certificates[1].serial_hex, "a2");
  EXPECT_TRUE(even->certificates[1].record.revoked);
  EXPECT_EQ(even->certificates[1].record.reason, 1);
  EXPECT_EQ(even->certificates[2].record.certificate, "der-4");
  EXPECT_TRUE(even->next_page_token.empty());

  auto revoked = index_->List("", true, "", 10);
  ASSERT_TRUE(revoked.ok());
  ASSERT_EQ(revoked->certificates.size(), 1u);
  EXPECT_EQ(revoked->certificates[0].serial_hex, "a2");
  auto valid_odd = index_->List("odd", false, "", 10);
  ASSERT_TRUE(valid_odd.ok());
  EXPECT_EQ(valid_odd->certificates.size(), 2u);
  EXPECT_TRUE(index_->List("none", std::nullopt, "", 10)->certificates.empty());

  EXPECT_EQ(index_->List("bad:profile", std::nullopt, "", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->List("", std::nullopt, "", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->List("", std::nullopt, "garbage", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Stores, CertificateIndexTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Redis" : "Memory"; });

}  // namespace
}  // namespace scep::redis
