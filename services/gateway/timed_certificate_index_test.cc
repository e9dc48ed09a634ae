#include "common/metrics/counter_sum.h"
#include "services/gateway/timed_certificate_index.h"

#include <map>
#include <string>

#include "common/redis/memory_certificate_index.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace scep::gateway {
namespace {

// Sum of the samples `name` whose labels include `labels`; histograms
// report their sample count.
double Value(const prometheus::Registry& registry, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return metrics::SampleSum(registry, name, labels);
}

TEST(TimedCertificateIndexTest, TimesOperationsCountsRevocationsAndErrors) {
  prometheus::Registry registry;
  GatewayMetrics metrics(registry);
  auto owned = std::make_unique<redis::MemoryCertificateIndex>();
  redis::MemoryCertificateIndex* memory = owned.get();
  auto index = NewTimedCertificateIndex(std::move(owned), &metrics);

  redis::CertificateRecord record;
  record.certificate = "der";
  record.profile = "default";
  ASSERT_TRUE(index->Put("0a", record, absl::Hours(1)).ok());
  auto got = index->Get("0a");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->certificate, "der");  // results pass through
  EXPECT_TRUE(index->Revoke("0a", 1, absl::Now()).ok());
  // Revoked already: answered, but no second revocation to count.
  EXPECT_TRUE(index->Revoke("0a", 4, absl::Now()).ok());
  // Unknown serial: an answer about the data, not a Redis failure.
  EXPECT_TRUE(absl::IsNotFound(index->Revoke("0b", 1, absl::Now()).status()));
  ASSERT_TRUE(index->ListRevoked().ok());
  EXPECT_EQ(index->ListRevoked()->size(), 1u);

  const std::string duration = "scep_gateway_redis_op_duration_seconds";
  EXPECT_EQ(Value(registry, duration, {{"op", "IndexPut"}}), 1);
  EXPECT_EQ(Value(registry, duration, {{"op", "IndexGet"}}), 1);
  EXPECT_EQ(Value(registry, duration, {{"op", "IndexRevoke"}}), 3);
  EXPECT_EQ(Value(registry, duration, {{"op", "IndexListRevoked"}}), 2);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_revoked_total",
                  {{"reason", "keyCompromise"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_revoked_total"), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_redis_errors_total"), 0);

  memory->SetUnavailable(true);
  EXPECT_TRUE(absl::IsUnavailable(index->Get("0a").status()));
  EXPECT_FALSE(index->Revoke("0a", 1, absl::Now()).ok());
  EXPECT_FALSE(index->NextCrlNumber().ok());
  EXPECT_EQ(Value(registry, "scep_gateway_redis_errors_total",
                  {{"op", "IndexGet"}, {"kind", "unavailable"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_redis_errors_total"), 3);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_revoked_total"), 1);
}

TEST(GatewayMetricsTest, RateLimitsPendingAndRenewalsHaveBoundedLabels) {
  prometheus::Registry registry;
  GatewayMetrics metrics(registry);
  metrics.RateLimited("wifi:client:192.0.2.7");
  metrics.RateLimited("wifi:client:[2001:db8::1]");
  metrics.RateLimited("wifi:profile");
  metrics.RateLimited("default:subject:0123abcd");
  metrics.RateLimited("default:weird");
  metrics.RequestPending("approval");
  metrics.CertificateRenewed("default");
  metrics.CertificateRevoked(-1);
  metrics.CertificateRevoked(42);
  const std::string limited = "scep_gateway_rate_limited_total";
  EXPECT_EQ(Value(registry, limited, {{"profile", "wifi"}, {"scope", "client"}}), 2);
  EXPECT_EQ(Value(registry, limited, {{"profile", "wifi"}, {"scope", "profile"}}), 1);
  EXPECT_EQ(Value(registry, limited, {{"profile", "default"}, {"scope", "subject"}}),
            1);
  EXPECT_EQ(Value(registry, limited, {{"scope", "other"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_pending_requests_total",
                  {{"profile", "approval"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_renewed_total",
                  {{"profile", "default"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_revoked_total",
                  {{"reason", "unspecified"}}), 2);
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        EXPECT_EQ(l.value.find("192.0.2.7"), std::string::npos) << family.name;
        EXPECT_EQ(l.value.find("0123abcd"), std::string::npos) << family.name;
      }
    }
  }
}

}  // namespace
}  // namespace scep::gateway
