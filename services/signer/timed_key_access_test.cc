#include "services/signer/timed_key_access.h"

#include <openssl/evp.h>

#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace scep::signer {
namespace {

double Count(const prometheus::Registry& registry, const std::string& key,
             const std::string& operation, const std::string& result) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "scep_signer_pkcs11_operations_total") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["key"] == key && labels["operation"] == operation &&
          labels["result"] == result) {
        return m.counter.value;
      }
    }
  }
  return 0;
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

}  // namespace
}  // namespace scep::signer
