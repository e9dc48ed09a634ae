#include "common/metrics/metrics_server.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "services/gateway/http/test_http_client.h"

namespace scep::metrics {
namespace {

using gateway::test::RawClient;
using gateway::test::RawResponse;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& family = prometheus::BuildCounter()
                       .Name("scep_test_requests_total")
                       .Help("Test requests.")
                       .Register(registry_);
    family.Add({{"outcome", "SUCCESS"}}).Increment(3);
    readiness_.AddCheck("redis", [this] {
      return redis_up_ ? absl::OkStatus() : absl::UnavailableError("ping failed");
    });
    MetricsServerOptions options;
    options.port = 0;
    server_ = MetricsServer::New(options, &registry_, &readiness_).value();
    server_->Start();
  }

  RawResponse Get(const std::string& path, const std::string& method = "GET") {
    auto client = RawClient::Connect(server_->port());
    EXPECT_NE(client, nullptr);
    if (client == nullptr) return {};
    EXPECT_TRUE(client->Send(method + " " + path +
                             " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto response = client->ReadResponse();
    EXPECT_TRUE(response.has_value());
    return response.value_or(RawResponse{});
  }

  prometheus::Registry registry_;
  Readiness readiness_;
  std::atomic<bool> redis_up_{true};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesTextExposition) {
  RawResponse r = Get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type").value_or(""),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE scep_test_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("scep_test_requests_total{outcome=\"SUCCESS\"} 3"),
            std::string::npos)
      << r.body;
}

TEST_F(MetricsServerTest, IdleSocketsDoNotLockOutHealthz) {
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 300; ++i) {  // more than the connection cap
    idle.push_back(RawClient::Connect(server_->port()));
    ASSERT_NE(idle.back(), nullptr);
  }
  for (int i = 0; i < 3; ++i) {
    RawResponse r = Get("/healthz");
    EXPECT_EQ(r.status, 200) << i;
  }
}

TEST_F(MetricsServerTest, HealthzIsAlwaysOk) {
  redis_up_ = false;
  readiness_.RunChecks();
  RawResponse r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(MetricsServerTest, ReadyzFollowsChecksAndDraining) {
  EXPECT_EQ(Get("/readyz").status, 503);  // no run yet
  readiness_.RunChecks();
  RawResponse r = Get("/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");
  redis_up_ = false;
  readiness_.RunChecks();
  r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "redis: ping failed\n");
  redis_up_ = true;
  readiness_.RunChecks();
  EXPECT_EQ(Get("/readyz").status, 200);
  readiness_.SetDraining();
  r = Get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "draining: shutting down\n");
}

// /readyz?local: shared dependencies failing keep it 200 (the body names
// them); its own checks and draining do not.
TEST_F(MetricsServerTest, ReadyzLocalIgnoresSharedDependencies) {
  readiness_.AddDependencyCheck("signer", [] { return absl::UnavailableError("down"); });
  readiness_.RunChecks();
  EXPECT_EQ(Get("/readyz").status, 503);
  RawResponse r = Get("/readyz?local");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "signer: down\n");
  redis_up_ = false;  // this fixture's own check
  readiness_.RunChecks();
  EXPECT_EQ(Get("/readyz?local").status, 503);
  redis_up_ = true;
  readiness_.RunChecks();
  readiness_.SetDraining();
  EXPECT_EQ(Get("/readyz?local").status, 503);
}

TEST_F(MetricsServerTest, UnknownPathsAndMethods) {
  EXPECT_EQ(Get("/").status, 404);
  EXPECT_EQ(Get("/scep").status, 404);
  RawResponse r = Get("/metrics", "DELETE");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow").value_or(""), "GET, HEAD");
}

}  // namespace
}  // namespace scep::metrics
