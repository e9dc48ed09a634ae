#include "services/signer/timed_key_access.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "common/codec/envelope.h"

#include "common/metrics/counter_sum.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace scep::signer {
namespace {

// Sum of scep_signer_pkcs11_operations_total over the series matching the
// given labels ("" mechanism: any).
double Count(const prometheus::Registry& registry, const std::string& key,
             const std::string& operation, const std::string& result,
             const std::string& mechanism = "") {
  std::map<std::string, std::string> labels = {
      {"key", key}, {"operation", operation}, {"result", result}};
  if (!mechanism.empty()) labels["mechanism"] = mechanism;
  return metrics::SampleSum(registry, "scep_signer_pkcs11_operations_total", labels);
}

// Histogram sample count of scep_signer_pkcs11_duration_seconds.
double Observations(const prometheus::Registry& registry, const std::string& key,
                    const std::string& operation, const std::string& mechanism) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "scep_signer_pkcs11_duration_seconds") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["key"] == key && labels["operation"] == operation &&
          labels["mechanism"] == mechanism) {
        return static_cast<double>(m.histogram.sample_count);
      }
    }
  }
  return 0;
}

// scep_signer_pkcs11_cpu_seconds_total of one series.
double CpuSeconds(const prometheus::Registry& registry, const std::string& key,
                  const std::string& operation) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "scep_signer_pkcs11_cpu_seconds_total") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["key"] == key && labels["operation"] == operation) {
        return m.counter.value;
      }
    }
  }
  return -1;
}

// A self-signed certificate for `key`, as an envelope recipient.
crypto::X509Ptr SelfSigned(EVP_PKEY* key) {
  crypto::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ra"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key);
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) return nullptr;
  return cert;
}

TEST(TimedKeyAccessTest, CountsByKeyOperationAndResult) {
  prometheus::Registry registry;
  SignerMetrics metrics(registry);
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  auto timed = NewTimedKeyAccess(NewSoftwareKey(std::move(key)), "ra", &metrics);
  {
    ScopedKeyOperation op("decrypt");
    EXPECT_TRUE(timed->WithKey([](EVP_PKEY* k) {
      return k != nullptr ? absl::OkStatus() : absl::InternalError("no key");
    }).ok());
    {
      ScopedKeyOperation inner("sign_certrep");
      EXPECT_FALSE(timed->WithKey([](EVP_PKEY*) {
        return absl::UnavailableError("token gone");
      }).ok());
    }
    EXPECT_STREQ(ScopedKeyOperation::Current(), "decrypt");
  }
  EXPECT_STREQ(ScopedKeyOperation::Current(), "private_key");
  EXPECT_TRUE(timed->PublicKey().ok());
  EXPECT_EQ(Count(registry, "ra", "decrypt", "ok"), 1);
  EXPECT_EQ(Count(registry, "ra", "sign_certrep", "error"), 1);
  EXPECT_EQ(Count(registry, "ra", "public_key", "ok"), 1);
  EXPECT_EQ(Count(registry, "ca", "decrypt", "ok"), 0);
}

TEST(TimedKeyAccessTest, LabelsTheMechanismFromKeyTypeAndHint) {
  prometheus::Registry registry;
  SignerMetrics metrics(registry);
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  crypto::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_NE(ec, nullptr);
  ASSERT_NE(rsa, nullptr);
  auto ca = NewTimedKeyAccess(NewSoftwareKey(std::move(ec)), "ca", &metrics);
  auto ra = NewTimedKeyAccess(NewSoftwareKey(std::move(rsa)), "ra", &metrics);
  auto ok = [](EVP_PKEY*) { return absl::OkStatus(); };
  {
    ScopedKeyOperation op("sign_certificate");
    EXPECT_TRUE(ca->WithKey(ok).ok());
  }
  {
    ScopedKeyOperation op("sign_certrep");
    EXPECT_TRUE(ra->WithKey(ok).ok());
  }
  {
    ScopedKeyOperation op("decrypt");
    EXPECT_TRUE(ra->WithKey(ok).ok());
    ScopedKeyMechanism oaep("rsa-oaep");
    EXPECT_FALSE(ra->WithKey([](EVP_PKEY*) {
      return absl::InvalidArgumentError("bad padding");
    }).ok());
    {
      ScopedKeyMechanism none(nullptr);  // no hint: from the key type
      EXPECT_TRUE(ra->WithKey(ok).ok());
    }
    EXPECT_STREQ(ScopedKeyMechanism::Current(), "rsa-oaep");
  }
  EXPECT_EQ(ScopedKeyMechanism::Current(), nullptr);
  EXPECT_TRUE(ca->PublicKey().ok());
  EXPECT_EQ(Count(registry, "ca", "sign_certificate", "ok", "ecdsa"), 1);
  EXPECT_EQ(Count(registry, "ra", "sign_certrep", "ok", "rsa-pkcs1"), 1);
  EXPECT_EQ(Count(registry, "ra", "decrypt", "ok", "rsa-pkcs1"), 2);
  EXPECT_EQ(Count(registry, "ra", "decrypt", "error", "rsa-oaep"), 1);
  EXPECT_EQ(Count(registry, "ca", "public_key", "ok", "none"), 1);
  EXPECT_EQ(Observations(registry, "ra", "decrypt", "rsa-oaep"), 1);
  EXPECT_EQ(Observations(registry, "ca", "sign_certificate", "ecdsa"), 1);
}

TEST(TimedKeyAccessTest, CountsTheCallingThreadsCpuNotItsWaiting) {
  prometheus::Registry registry;
  SignerMetrics metrics(registry);
  crypto::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_NE(rsa, nullptr);
  auto ra = NewTimedKeyAccess(NewSoftwareKey(std::move(rsa)), "ra", &metrics);
  // Waiting (a network HSM's round trip) costs the thread no CPU.
  {
    ScopedKeyOperation op("decrypt");
    EXPECT_TRUE(ra->WithKey([](EVP_PKEY*) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return absl::OkStatus();
    }).ok());
  }
  // Arithmetic (a software token) does: 50 RSA-2048 signatures.
  {
    ScopedKeyOperation op("sign_certrep");
    EXPECT_TRUE(ra->WithKey([](EVP_PKEY* key) {
      for (int i = 0; i < 50; ++i) {
        crypto::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
        unsigned char digest[32] = {1};
        unsigned char sig[256];
        size_t len = sizeof(sig);
        if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
            EVP_PKEY_sign(ctx.get(), sig, &len, digest, sizeof(digest)) != 1) {
          return absl::InternalError("sign");
        }
      }
      return absl::OkStatus();
    }).ok());
  }
  const double waited = CpuSeconds(registry, "ra", "decrypt");
  const double worked = CpuSeconds(registry, "ra", "sign_certrep");
  EXPECT_GE(waited, 0);
  EXPECT_LT(waited, 0.1);  // of 0.2 s asleep
  EXPECT_GT(worked, 0);
  EXPECT_GT(worked, waited);
}

// A key whose token can be "gone": WithKey then fails without reaching
// the key, as a lost PKCS#11 session does.
class FlakyKey final : public KeyAccess {
 public:
  explicit FlakyKey(crypto::EvpPkeyPtr key) : inner_(NewSoftwareKey(std::move(key))) {}
  absl::Status WithKey(absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) override {
    if (gone) return absl::UnavailableError("token gone");
    return inner_->WithKey(fn);
  }
  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() override {
    return inner_->PublicKey();
  }
  bool gone = true;

 private:
  std::unique_ptr<KeyAccess> inner_;
};

TEST(TimedKeyAccessTest, FailureBeforeTheKeyIsSeenIsUnknownThenKeyType) {
  prometheus::Registry registry;
  SignerMetrics metrics(registry);
  auto flaky = std::make_unique<FlakyKey>(crypto::EvpPkeyPtr(EVP_EC_gen("P-256")));
  FlakyKey* key = flaky.get();
  auto timed = NewTimedKeyAccess(std::move(flaky), "ca", &metrics);
  ScopedKeyOperation op("sign_crl");
  auto ok = [](EVP_PKEY*) { return absl::OkStatus(); };
  EXPECT_FALSE(timed->WithKey(ok).ok());
  EXPECT_EQ(Count(registry, "ca", "sign_crl", "error", "unknown"), 1);
  key->gone = false;
  EXPECT_TRUE(timed->WithKey(ok).ok());
  key->gone = true;
  EXPECT_FALSE(timed->WithKey(ok).ok());  // the key type is remembered
  EXPECT_EQ(Count(registry, "ca", "sign_crl", "ok", "ecdsa"), 1);
  EXPECT_EQ(Count(registry, "ca", "sign_crl", "error", "ecdsa"), 1);
}

TEST(KeyTransportMechanismTest, TellsOaepFromPkcs1) {
  crypto::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_NE(rsa, nullptr);
  crypto::X509Ptr cert = SelfSigned(rsa.get());
  ASSERT_NE(cert, nullptr);
  auto pkcs1 = codec::Envelope("csr", cert.get(), "aes-128-cbc", false);
  auto oaep = codec::Envelope("csr", cert.get(), "aes-128-cbc", true);
  ASSERT_TRUE(pkcs1.ok()) << pkcs1.status();
  ASSERT_TRUE(oaep.ok()) << oaep.status();
  EXPECT_STREQ(KeyTransportMechanism(*pkcs1), "rsa-pkcs1");
  EXPECT_STREQ(KeyTransportMechanism(*oaep), "rsa-oaep");
  EXPECT_EQ(KeyTransportMechanism("not DER"), nullptr);
  EXPECT_EQ(KeyTransportMechanism(""), nullptr);
}

}  // namespace
}  // namespace scep::signer
