// Metrics and request logs of the gateway: the decorators and the
// observers of ScepService, against in-process fakes.

#include <sstream>

#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "common/metrics/counter_sum.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/scep_service.h"
#include "services/gateway/timed_enrollment_store.h"
#include "services/gateway/timed_signer_client.h"

namespace scep::gateway {
namespace {

// Sum of the samples `name` whose labels include `labels`; histograms
// report their sample count.
double Value(const prometheus::Registry& registry, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  return metrics::SampleSum(registry, name, labels);
}

TEST(TimedEnrollmentStoreTest, CountsReplaysLatencyAndErrors) {
  prometheus::Registry registry;
  GatewayMetrics metrics(registry);
  auto memory = redis::MemoryEnrollmentStore::New();
  auto store = NewTimedEnrollmentStore(memory.get(), &metrics);
  EXPECT_EQ(store->RecordNonce("default", "n1", "msg", absl::Minutes(1)).value(),
            redis::NonceUse::kFresh);
  EXPECT_EQ(store->RecordNonce("default", "n1", "other msg", absl::Minutes(1)).value(),
            redis::NonceUse::kReplay);
  EXPECT_EQ(store->RecordNonce("default", "n1", "msg", absl::Minutes(1)).value(),
            redis::NonceUse::kRetransmission);
  EXPECT_EQ(Value(registry, "scep_gateway_replays_refused_total",
                  {{"profile", "default"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_retransmissions_total",
                  {{"profile", "default"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_redis_op_duration_seconds",
                  {{"op", "RecordNonce"}}), 3);
  memory->SetUnavailable(true);
  EXPECT_FALSE(store->RecordNonce("default", "n2", "msg", absl::Minutes(1)).ok());
  EXPECT_FALSE(store->Ping().ok());
  EXPECT_EQ(Value(registry, "scep_gateway_redis_errors_total",
                  {{"op", "RecordNonce"}, {"kind", "unavailable"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_redis_errors_total"), 1);  // no Ping
}

TEST(TimedSignerClientTest, CountsCallsErrorsAndIssuedCertificates) {
  prometheus::Registry registry;
  GatewayMetrics metrics(registry);
  testing::InProcessSigner inner;
  auto signer = NewTimedSignerClient(&inner, &metrics);
  ASSERT_TRUE(signer->GetCertificates().ok());
  inner.down = true;
  EXPECT_FALSE(signer->GetCertificates().ok());
  IssueRequest issue;
  issue.csr = "csr";
  issue.validity_days = 1;
  EXPECT_FALSE(signer->Issue(issue).ok());
  EXPECT_EQ(Value(registry, "scep_gateway_signer_rpc_duration_seconds",
                  {{"method", "GetCertificates"}}), 2);
  EXPECT_EQ(Value(registry, "scep_gateway_signer_rpc_errors_total",
                  {{"method", "GetCertificates"}, {"code", "UNAVAILABLE"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_signer_rpc_errors_total",
                  {{"method", "IssueCertificate"}}), 1);
  EXPECT_EQ(Value(registry, "scep_gateway_certificates_issued_total"), 0);
}

class ObservedServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.profile.challenge = "s3cret-Challenge";
    ASSERT_TRUE(certs_.Refresh(signer_).ok());
    service_ = std::make_unique<ScepService>(options_, &signer_, store_.get(),
                                             &index_, &certs_,
                                             ScepServiceObservers{&metrics_, &log_});
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& query, const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.raw_query = query;
    r.body = body;
    r.remote_address = "192.0.2.7:4711";
    return service_->Handle(r);
  }

  prometheus::Registry registry_;
  GatewayMetrics metrics_{registry_};
  std::ostringstream log_text_;
  metrics::JsonLogger log_{&log_text_};
  testing::InProcessSigner signer_;
  std::unique_ptr<redis::MemoryEnrollmentStore> store_ =
      redis::MemoryEnrollmentStore::New();
  redis::MemoryCertificateIndex index_;
  CaCertificates certs_;
  ScepServiceOptions options_;
  std::unique_ptr<ScepService> service_;
};

TEST_F(ObservedServiceTest, CountsEveryRequestWithBoundedLabels) {
  EXPECT_EQ(Send("GET", "/scep", "operation=GetCACaps").status, 200);
  EXPECT_EQ(Send("POST", "/scep", "operation=PKIOperation", "garbage").status, 400);
  EXPECT_EQ(Send("GET", "/scep", "operation=Whatever-1234").status, 400);
  EXPECT_EQ(Send("GET", "/nope", "operation=GetCACaps").status, 404);
  EXPECT_EQ(Value(registry_, "scep_gateway_requests_total",
                  {{"operation", "GetCACaps"}, {"profile", "default"},
                   {"http_status", "200"}}), 1);
  EXPECT_EQ(Value(registry_, "scep_gateway_requests_total",
                  {{"operation", "PKIOperation"}, {"http_status", "400"}}), 1);
  EXPECT_EQ(Value(registry_, "scep_gateway_requests_total",
                  {{"operation", "invalid"}, {"profile", "default"}}), 1);
  EXPECT_EQ(Value(registry_, "scep_gateway_requests_total",
                  {{"operation", "invalid"}, {"profile", "unknown"},
                   {"http_status", "404"}}), 1);
  EXPECT_EQ(Value(registry_, "scep_gateway_request_duration_seconds"), 4);
  EXPECT_EQ(Value(registry_, "scep_gateway_requests_in_flight"), 0);
}

TEST_F(ObservedServiceTest, WritesOneJsonLinePerRequest) {
  Send("GET", "/scep", "operation=GetCACaps");
  Send("POST", "/scep", "operation=PKIOperation", "garbage");
  const std::string text = log_text_.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_NE(text.find("\"event\":\"request\",\"operation\":\"GetCACaps\","
                      "\"profile\":\"default\",\"transaction_id\":\"\","
                      "\"message_type\":\"\",\"outcome\":\"ok\","
                      "\"http_status\":200,\"latency_ms\":"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"outcome\":\"error\",\"http_status\":400"),
            std::string::npos);
  // The client's address without the port (ClientAddress::ClientOf).
  EXPECT_NE(text.find("\"client\":\"192.0.2.7\""), std::string::npos) << text;
  EXPECT_EQ(text.find("s3cret-Challenge"), std::string::npos);
}

}  // namespace
}  // namespace scep::gateway
