#include "services/gateway/crl_cache.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "gtest/gtest.h"
#include "services/gateway/crl_contents.h"
#include "services/gateway/in_process_signer.h"

namespace scep::gateway {
namespace {

// cRLNumber of a DER CRL; 0 when it has none or does not parse.
uint64_t CrlNumber(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
  if (crl == nullptr) return 0;
  auto* number = static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr));
  uint64_t value = 0;
  if (number != nullptr && ASN1_INTEGER_get_uint64(&value, number) != 1) value = 0;
  ASN1_INTEGER_free(number);
  X509_CRL_free(crl);
  return value;
}

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

// Everything as `inner`; subclasses change SignCrl.
class CrlSignerWrapper : public SignerClient {
 public:
  explicit CrlSignerWrapper(SignerClient* inner) : inner_(inner) {}
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
    return inner_->SignCrl(request);
  }
  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override {
    return inner_->SignOcsp(request);
  }

 protected:
  SignerClient* const inner_;
};

// SignCrl taking `delay`, counted; everything else as `inner`.
class SlowCrlSigner final : public CrlSignerWrapper {
 public:
  explicit SlowCrlSigner(SignerClient* inner) : CrlSignerWrapper(inner) {}
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    signed_.fetch_add(1);
    absl::SleepFor(delay);
    if (down.load()) return absl::UnavailableError("signer down (test)");
    return inner_->SignCrl(request);
  }
  int signed_count() const { return signed_.load(); }
  std::atomic<bool> down{false};  // SignCrl answers Unavailable after its delay
  absl::Duration delay = absl::Milliseconds(100);  // set before the calls

 private:
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
  absl::StatusOr<std::shared_ptr<const std::string>> again = cache.Get(now + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->get(), first->get());  // the same bytes, not a copy
  EXPECT_EQ(signer.signed_count(), 1);
  // Another gateway cached a later CRL (a higher cRLNumber) of the same
  // generation: served from then on, without signing.
  redis::CachedCrl other = index_.GetCachedCrl().value().value();
  other.der = "another gateway's";
  other.number += 1;
  ASSERT_TRUE(index_.PutCachedCrl(other).value());
  again = cache.Get(now + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(**again, "another gateway's");
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

// SignCrl as `inner`, but the first call first runs `race` (another
// gateway signing a CRL in the meantime).
class RacedCrlSigner final : public CrlSignerWrapper {
 public:
  RacedCrlSigner(SignerClient* inner, std::function<void()> race)
      : CrlSignerWrapper(inner), race_(std::move(race)) {}
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    ++signed_;
    if (race_ != nullptr) std::exchange(race_, nullptr)();
    return inner_->SignCrl(request);
  }
  int signed_count() const { return signed_; }

 private:
  std::function<void()> race_;
  int signed_ = 0;
};

// Two gateways sign a CRL at once (one request each after a revocation):
// the one numbered lower is not cached, and the gateway that signed it
// serves the other's, so both serve one CRL and a relying party never sees
// the cRLNumber go back (before session 17 each served its own, and the
// cache kept whichever was written last).
TEST_F(CurrentCrlTest, RacingGatewaysServeTheHigherNumberedCrl) {
  const absl::Time now = not_after_ - absl::Hours(48);
  absl::StatusOr<SignedCrl> other;
  RacedCrlSigner signer(&signer_, [&] { other = CurrentCrl(signer_, index_, kValidity, now); });
  absl::StatusOr<SignedCrl> mine = CurrentCrl(signer, index_, kValidity, now);
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(CrlNumber(*other->der), 2u);  // this one took 1, then the other 2
  EXPECT_EQ(*mine->der, *other->der);
  EXPECT_EQ(index_.GetCachedCrl().value()->number, 2u);
  EXPECT_EQ(signer.signed_count(), 1);  // the winner was served, not signed again
}

// The CRL that won was listed before a revocation this request knows of:
// not served, a new one is signed (numbered above both).
TEST_F(CurrentCrlTest, ARacingCrlThatMissesARevocationIsSignedAgain) {
  const absl::Time now = not_after_ - absl::Hours(48);
  ASSERT_TRUE(CurrentCrl(signer_, index_, kValidity, now).ok());  // number 1
  const int64_t before = index_.RevocationGeneration().value();
  RevokeAnother("0f10");
  RacedCrlSigner signer(&signer_, [&] {
    // Another gateway's CRL of the generation before the revocation,
    // numbered after this one (it took its number later).
    const uint64_t number = index_.NextCrlNumber().value();
    ASSERT_TRUE(index_
                    .PutCachedCrl({before, "misses 0f10", now + kValidity, now, number})
                    .value());
  });
  absl::StatusOr<SignedCrl> crl = CurrentCrl(signer, index_, kValidity, now);
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_EQ(CrlNumber(*crl->der), 4u);  // 2 not cached, 3 taken by the other
  EXPECT_TRUE(Listed(*crl->der).contains("0f10"));
  EXPECT_EQ(index_.GetCachedCrl().value()->number, 4u);
  EXPECT_EQ(signer.signed_count(), 2);
}

// Redis lost everything (restarted without persistence) while a gateway
// kept the CRL, and a device was revoked since: the kept CRL's
// revocations are recorded again, and the next CRL lists them and the new
// one, numbered above the kept CRL (before session 17 the kept CRL was
// served, without the new revocation, until half its validity had passed,
// and then one without the lost revocations under cRLNumber 1).
TEST_F(CurrentCrlTest, RevocationsRedisLostAreRestoredFromTheKeptCrl) {
  std::vector<CrlCache::Restore> restores;
  CrlCache cache(&signer_, &index_, kValidity,
                 [&](const CrlCache::Restore& r) { restores.push_back(r); });
  const absl::Time now = not_after_ - absl::Hours(48);
  ASSERT_TRUE(cache.Get(now).ok());
  RevokeAnother("0f30");
  absl::StatusOr<std::shared_ptr<const std::string>> before = cache.Get(now);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(CrlNumber(**before), 2u);
  EXPECT_TRUE(restores.empty());

  index_.LoseEverything();
  RevokeAnother("0f31");
  absl::StatusOr<std::shared_ptr<const std::string>> after = cache.Get(now + absl::Hours(1));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Listed(**after), (std::set<std::string>{"0e01", "0e02", "0f30", "0f31"}));
  EXPECT_GT(CrlNumber(**after), 2u);
  ASSERT_EQ(restores.size(), 1u);
  ASSERT_TRUE(restores[0].restored.ok()) << restores[0].restored.status();
  EXPECT_EQ(*restores[0].restored, 3);
  EXPECT_EQ(restores[0].kept_number, 2u);
  // Repaired: no further restore.
  ASSERT_TRUE(cache.Get(now + absl::Hours(2)).ok());
  EXPECT_EQ(restores.size(), 1u);
}

// A certificate recorded and revoked in `index`.
absl::Status PutRevoked(redis::CertificateIndex& index, const std::string& serial) {
  redis::CertificateRecord record;
  record.certificate = "x";
  if (absl::Status put = index.Put(serial, record, absl::Hours(1)); !put.ok()) return put;
  return index.Revoke(serial, 1, absl::Now()).status();
}

// A memory index that runs `hook` once right after a GetCrlState read.
class HookedIndex final : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<redis::CrlState> GetCrlState() override {
    absl::StatusOr<redis::CrlState> state = MemoryCertificateIndex::GetCrlState();
    if (hook != nullptr) std::exchange(hook, nullptr)();
    return state;
  }
  std::function<void()> hook;
};

// A request reads the state, then a revocation and another request's new
// CRL overtake it: its read is older than the kept CRL, not a loss (the
// first version took it for one: a false crl_revocations_lost and an
// extra signature in about one burst of requests after a revocation).
TEST_F(CurrentCrlTest, AKeptCrlNewerThanTheReadIsNoLoss) {
  HookedIndex index;
  ASSERT_TRUE(PutRevoked(index, "0e01").ok());
  std::vector<CrlCache::Restore> restores;
  RacedCrlSigner signer(&signer_, nullptr);
  CrlCache cache(&signer, &index, kValidity,
                 [&](const CrlCache::Restore& r) { restores.push_back(r); });
  ASSERT_TRUE(cache.Get().ok());
  absl::StatusOr<std::shared_ptr<const std::string>> overtaking;
  index.hook = [&] {
    ASSERT_TRUE(PutRevoked(index, "0e02").ok());
    overtaking = cache.Get();
  };
  absl::StatusOr<std::shared_ptr<const std::string>> crl = cache.Get();
  ASSERT_TRUE(crl.ok()) << crl.status();
  ASSERT_TRUE(overtaking.ok()) << overtaking.status();
  EXPECT_EQ(crl->get(), overtaking->get());  // the newer CRL, kept
  EXPECT_TRUE(restores.empty());
  EXPECT_EQ(signer.signed_count(), 2);
}

// A memory index whose RestoreRevoked fails (Redis refusing writes).
class NoRestoreIndex final : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<int64_t> RestoreRevoked(const std::vector<redis::RevokedSerial>&,
                                         uint64_t) override {
    ++attempts;
    return absl::UnavailableError("Redis RestoreRevoked: OOM (test)");
  }
  int attempts = 0;
};

// Redis lost the revocations and refuses them back: the kept CRL (still
// valid) is served, and the restore is not tried again on every request.
TEST_F(CurrentCrlTest, WhileRevocationsCannotBeRestoredTheKeptCrlIsServed) {
  NoRestoreIndex index;
  ASSERT_TRUE(PutRevoked(index, "0e01").ok());
  std::vector<CrlCache::Restore> restores;
  CrlCache cache(&signer_, &index, kValidity,
                 [&](const CrlCache::Restore& r) { restores.push_back(r); });
  absl::StatusOr<std::shared_ptr<const std::string>> kept = cache.Get();
  ASSERT_TRUE(kept.ok()) << kept.status();
  index.LoseEverything();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::shared_ptr<const std::string>> crl = cache.Get();
    ASSERT_TRUE(crl.ok()) << crl.status();
    EXPECT_EQ(crl->get(), kept->get());
    EXPECT_EQ(Listed(**crl), (std::set<std::string>{"0e01"}));
  }
  EXPECT_EQ(index.attempts, 1);  // then a pause before the next try
  ASSERT_EQ(restores.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(restores[0].restored.status()));
}

// ReadCrl: what a CRL lists, and only from the CA that signed it.
TEST_F(CurrentCrlTest, ReadCrlChecksTheIssuer) {
  const absl::Time now = not_after_ - absl::Hours(48);
  absl::StatusOr<SignedCrl> crl = CurrentCrl(signer_, index_, kValidity, now);
  ASSERT_TRUE(crl.ok()) << crl.status();
  absl::StatusOr<CaCertificatesDer> certs = signer_.GetCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  crypto::X509Ptr ca =
      crypto::FromDer<crypto::X509Ptr>(certs->ca, d2i_X509, "CA").value();
  absl::StatusOr<CrlContents> read = ReadCrl(*crl->der, ca.get());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->number, 1u);
  EXPECT_EQ(read->this_update, absl::FromUnixSeconds(absl::ToUnixSeconds(now - kCrlBackdate)));
  ASSERT_EQ(read->revoked.size(), 2u);
  std::set<std::string> serials;
  for (const redis::RevokedSerial& r : read->revoked) {
    serials.insert(r.serial_hex);
    EXPECT_EQ(r.reason, 1);
    EXPECT_EQ(r.revoked_at, not_after_ - absl::Hours(24 * 30));
  }
  EXPECT_EQ(serials, (std::set<std::string>{"0e01", "0e02"}));
  // PEM too.
  crypto::X509CrlPtr parsed =
      crypto::FromDer<crypto::X509CrlPtr>(*crl->der, d2i_X509_CRL, "CRL").value();
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_X509_CRL(bio.get(), parsed.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  absl::StatusOr<CrlContents> from_pem =
      ReadCrl(std::string(data, static_cast<size_t>(size)), ca.get());
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_pem->revoked.size(), 2u);
  // Another CA: refused.
  crypto::X509Ptr other = crypto::LoadCertificateFile(SCEP_TESTDATA_DIR "/strongswan-issued.pem")
                              .value();
  EXPECT_EQ(ReadCrl(*crl->der, other.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A flipped signature byte: refused.
  std::string tampered = *crl->der;
  tampered[tampered.size() - 5] ^= 1;
  EXPECT_EQ(ReadCrl(tampered, ca.get()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadCrl("not a CRL").status().code(), absl::StatusCode::kInvalidArgument);
}

// thisUpdate lies 5 minutes back, so a relying party whose clock is a little
// behind takes the CRL (X509_V_ERR_CRL_NOT_YET_VALID before); nextUpdate
// and the half-validity refresh count from the real time.
TEST_F(CurrentCrlTest, ThisUpdateIsBackdatedNextUpdateIsNot) {
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(not_after_ - absl::Hours(48)));
  absl::StatusOr<SignedCrl> crl = CurrentCrl(signer_, index_, kValidity, now);
  ASSERT_TRUE(crl.ok()) << crl.status();
  crypto::X509CrlPtr parsed =
      crypto::FromDer<crypto::X509CrlPtr>(*crl->der, d2i_X509_CRL, "CRL").value();
  int days = 0;
  int seconds = 0;
  crypto::Asn1TimePtr at(ASN1_TIME_set(nullptr, absl::ToTimeT(now)));
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_CRL_get0_lastUpdate(parsed.get()), at.get()), 1);
  EXPECT_EQ(days * 86400 + seconds, 300);
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, at.get(), X509_CRL_get0_nextUpdate(parsed.get())), 1);
  EXPECT_EQ(absl::Hours(24) * days + absl::Seconds(seconds), kValidity);
  EXPECT_EQ(crl->next_update, now + kValidity);
  // A relying party 2 minutes behind takes it.
  absl::StatusOr<CaCertificatesDer> certs = signer_.GetCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  crypto::X509Ptr ca = crypto::FromDer<crypto::X509Ptr>(certs->ca, d2i_X509, "CA").value();
  crypto::X509StorePtr store(X509_STORE_new());
  ASSERT_EQ(X509_STORE_add_cert(store.get(), ca.get()), 1);
  ASSERT_EQ(X509_STORE_add_crl(store.get(), parsed.get()), 1);
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()),
                             absl::ToTimeT(now - absl::Minutes(2)));
  crypto::SslPtr<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), ca.get(), nullptr), 1);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  // Fresh until half the validity from the real time is gone.
  EXPECT_EQ(CrlNumber(*CurrentCrl(signer_, index_, kValidity, now + kValidity / 2 - absl::Seconds(1))
                           .value()
                           .der),
            1u);
}

// SignCrl as `inner`, recording the serials each cRLNumber listed.
class RecordingCrlSigner final : public CrlSignerWrapper {
 public:
  explicit RecordingCrlSigner(SignerClient* inner) : CrlSignerWrapper(inner) {}
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    std::set<std::string>& serials = listed[request.number];
    for (const redis::RevokedSerial& r : request.revoked) serials.insert(r.serial_hex);
    return inner_->SignCrl(request);
  }
  std::map<uint64_t, std::set<std::string>> listed;
};

// A memory index that runs `hook` once, right after the first
// NextCrlNumber or ListRevoked call: between the two of one CRL.
class BetweenNumberAndListIndex final : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<uint64_t> NextCrlNumber() override {
    absl::StatusOr<uint64_t> number = MemoryCertificateIndex::NextCrlNumber();
    Fire();
    return number;
  }
  absl::StatusOr<std::vector<redis::RevokedSerial>> ListRevoked() override {
    absl::StatusOr<std::vector<redis::RevokedSerial>> revoked =
        MemoryCertificateIndex::ListRevoked();
    Fire();
    return revoked;
  }
  std::function<void()> hook;

 private:
  void Fire() {
    if (hook != nullptr) std::exchange(hook, nullptr)();
  }
};

// A revocation and another gateway's CRL between this CRL's cRLNumber and
// its list: the CRL with the highest number lists the revocation (when
// the list came first, this CRL took the higher number without it, was
// cached, and relying parties keeping the highest number missed it).
TEST_F(CurrentCrlTest, TheHighestNumberedCrlListsEveryRevocation) {
  BetweenNumberAndListIndex index;
  ASSERT_TRUE(PutRevoked(index, "0e01").ok());
  RecordingCrlSigner signer(&signer_);
  const absl::Time now = absl::Now();
  index.hook = [&] {
    ASSERT_TRUE(PutRevoked(index, "0e02").ok());
    ASSERT_TRUE(CurrentCrl(signer, index, kValidity, now).ok());
  };
  absl::StatusOr<SignedCrl> crl = CurrentCrl(signer, index, kValidity, now);
  ASSERT_TRUE(crl.ok()) << crl.status();
  ASSERT_GE(signer.listed.size(), 2u);
  EXPECT_EQ(signer.listed.rbegin()->second, (std::set<std::string>{"0e01", "0e02"}));
  EXPECT_EQ(Listed(*crl->der), (std::set<std::string>{"0e01", "0e02"}));
  EXPECT_EQ(Listed(index.GetCachedCrl().value()->der), (std::set<std::string>{"0e01", "0e02"}));
}

// A memory index whose revocation state cannot be read while `down`.
class RedisDownIndex final : public redis::MemoryCertificateIndex {
 public:
  absl::StatusOr<redis::CrlState> GetCrlState() override {
    if (down) return absl::UnavailableError("Redis down (test)");
    return MemoryCertificateIndex::GetCrlState();
  }
  absl::StatusOr<int64_t> RevocationGeneration() override {
    if (down) return absl::UnavailableError("Redis down (test)");
    return MemoryCertificateIndex::RevocationGeneration();
  }
  bool down = false;
};

// Redis down: the kept CRL is served until its nextUpdate (whether a
// revocation is missing cannot be told; it is noted), not a 503.
TEST_F(CurrentCrlTest, WhileRedisIsDownTheKeptCrlIsServedUntilItExpires) {
  RedisDownIndex index;
  ASSERT_TRUE(PutRevoked(index, "0e01").ok());
  std::vector<absl::Status> noted;
  CrlCache cache(&signer_, &index, kValidity, nullptr,
                 [&](const SignedCrl&, const absl::Status& why) { noted.push_back(why); });
  const absl::Time now = absl::Now();
  index.down = true;
  EXPECT_TRUE(absl::IsUnavailable(cache.Get(now).status()));  // nothing kept
  index.down = false;
  absl::StatusOr<std::shared_ptr<const std::string>> kept = cache.Get(now);
  ASSERT_TRUE(kept.ok()) << kept.status();
  index.down = true;
  absl::StatusOr<std::shared_ptr<const std::string>> served =
      cache.Get(now + kValidity / 2 + absl::Hours(1));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->get(), kept->get());
  ASSERT_EQ(noted.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(noted[0]));
  EXPECT_TRUE(absl::IsUnavailable(cache.Get(now + kValidity + absl::Seconds(1)).status()));
}

// The signer down once half the validity is gone: the kept CRL still lists
// every revocation and is served (and no new attempt made for a while);
// 503 once it has expired or a revocation is not on it (README: only
// "while a CRL due after a revocation cannot be signed").
TEST_F(CurrentCrlTest, WhileTheSignerIsDownACurrentKeptCrlIsServed) {
  SlowCrlSigner signer(&signer_);
  signer.delay = absl::ZeroDuration();
  std::vector<absl::Status> noted;
  CrlCache cache(&signer, &index_, kValidity, nullptr,
                 [&](const SignedCrl&, const absl::Status& why) { noted.push_back(why); });
  const absl::Time now = not_after_ - absl::Hours(48);
  absl::StatusOr<std::shared_ptr<const std::string>> kept = cache.Get(now);
  ASSERT_TRUE(kept.ok()) << kept.status();
  signer.down = true;
  const absl::Time later = now + kValidity / 2 + absl::Hours(1);
  absl::StatusOr<std::shared_ptr<const std::string>> served = cache.Get(later);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(**served, **kept);
  EXPECT_EQ(signer.signed_count(), 2);
  served = cache.Get(later);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(signer.signed_count(), 2);  // not again at once
  ASSERT_EQ(noted.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(noted[0]));
  // Without the CRL kept (a gateway started since): the one cached in Redis.
  absl::StatusOr<SignedCrl> direct = CurrentCrl(signer, index_, kValidity, later);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(*direct->der, **kept);
  EXPECT_TRUE(absl::IsUnavailable(direct->refresh_error));
  // Expired: 503.
  EXPECT_TRUE(absl::IsUnavailable(cache.Get(now + kValidity + absl::Seconds(1)).status()));
  // A revocation the kept CRL lacks: 503.
  RevokeAnother("0f40");
  EXPECT_TRUE(absl::IsUnavailable(cache.Get(later).status()));
}

}  // namespace
}  // namespace scep::gateway
