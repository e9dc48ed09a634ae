#include "services/admin/admin_call_log.h"

#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <openssl/evp.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/codec/client.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "scep/admin/v1/admin.grpc.pb.h"
#include "services/admin/admin_server.h"
#include "services/gateway/in_process_signer.h"

namespace scep::admin {
namespace {

constexpr char kToken[] = "t0ken-For-The-Admin-API";
constexpr char kGuess[] = "Guessed-Token-0123456789";

std::vector<std::string> Lines(const std::string& text, absl::string_view event) {
  std::vector<std::string> found;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, absl::StrCat("\"event\":\"", event, "\""))) {
      found.emplace_back(line);
    }
  }
  return found;
}

double Count(const prometheus::Registry& registry, const std::string& method,
             const std::string& code) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "scep_gateway_admin_calls_total") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::map<std::string, std::string> labels;
      for (const prometheus::ClientMetric::Label& l : m.label) labels[l.name] = l.value;
      if (labels["method"] == method && labels["code"] == code) return m.counter.value;
    }
  }
  return 0;
}

class AdminCallLogServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway::Profile profile;
    profile.challenge = "unused";
    profiles_ = gateway::ProfileSet::New({profile}).value();
    ASSERT_TRUE(ca_.Refresh(signer_).ok());
    AdminDeps deps;
    deps.profiles = profiles_.get();
    deps.ca = &ca_;
    deps.index = &index_;
    deps.transactions = transactions_.get();
    deps.signer = &signer_;
    deps.issuer = &issuer_;
    deps.audit = &log_;
    deps.metrics = &metrics_;
    AdminServerOptions options;
    options.port = 0;
    // This process's own file: ctest runs tests in parallel processes.
    const std::string token_file =
        ::testing::TempDir() + "/call-log-token-" + std::to_string(getpid());
    std::ofstream(token_file) << kToken;
    options.token_file = token_file;
    server_ = AdminServer::Start(options, {}, deps).value();
    stub_ = v1::Admin::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  grpc::Status ListCertificates(const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    v1::ListCertificatesResponse response;
    return stub_->ListCertificates(&context, v1::ListCertificatesRequest(), &response);
  }

  gateway::testing::InProcessSigner signer_;
  gateway::CaCertificates ca_;
  std::unique_ptr<gateway::ProfileSet> profiles_;
  redis::MemoryCertificateIndex index_;
  std::unique_ptr<redis::MemoryEnrollmentStore> transactions_ =
      redis::MemoryEnrollmentStore::New();
  gateway::ProfileIssuer issuer_{&signer_, &index_};
  std::ostringstream log_text_;
  metrics::JsonLogger log_{&log_text_};
  prometheus::Registry registry_;
  gateway::GatewayMetrics metrics_{registry_};
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

// A read leaves a trace naming its caller (ListRequests can return CSRs;
// before, nothing showed who read what).
TEST_F(AdminCallLogServerTest, ReadsAreLoggedWithTheirActor) {
  ASSERT_TRUE(ListCertificates(kToken).ok());
  std::vector<std::string> lines = Lines(log_text_.str(), "admin_call");
  ASSERT_EQ(lines.size(), 1u) << log_text_.str();
  EXPECT_TRUE(absl::StrContains(lines[0], "\"method\":\"ListCertificates\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"actor\":\"token\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"code\":\"OK\"")) << lines[0];
  EXPECT_FALSE(absl::StrContains(log_text_.str(), kToken));
  EXPECT_EQ(Count(registry_, "ListCertificates", "OK"), 1);
}

// A wrong token is a warning naming the method and the caller's address,
// never the token tried.
TEST_F(AdminCallLogServerTest, AWrongTokenIsLoggedWithoutIt) {
  EXPECT_EQ(ListCertificates(kGuess).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::vector<std::string> lines = Lines(log_text_.str(), "admin_refused");
  ASSERT_EQ(lines.size(), 1u) << log_text_.str();
  EXPECT_TRUE(absl::StrContains(lines[0], "\"level\":\"warning\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"method\":\"ListCertificates\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "127.0.0.1")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"code\":\"UNAUTHENTICATED\"")) << lines[0];
  EXPECT_FALSE(absl::StrContains(log_text_.str(), kGuess)) << log_text_.str();
  EXPECT_FALSE(absl::StrContains(log_text_.str(), "Guessed")) << log_text_.str();
  EXPECT_TRUE(Lines(log_text_.str(), "admin_call").empty());
  EXPECT_EQ(Count(registry_, "ListCertificates", "UNAUTHENTICATED"), 1);
}

// A call that writes an audit line gets no second line; one that changed
// nothing (refused for its input) gets an admin_call line with its code.
TEST_F(AdminCallLogServerTest, StateChangesKeepTheirAuditLineOnly) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  codec::CsrSpec spec;
  spec.common_name = "laptop-7";
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(codec::BuildCsr(key.get(), spec).value());
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::EnrollResponse response;
    ASSERT_TRUE(stub_->Enroll(&context, enroll, &response).ok());
  }
  EXPECT_EQ(Lines(log_text_.str(), "audit").size(), 1u) << log_text_.str();
  EXPECT_TRUE(Lines(log_text_.str(), "admin_call").empty()) << log_text_.str();

  grpc::ClientContext context;
  context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex("0123456789");
  v1::RevokeCertificateResponse revoked;
  EXPECT_EQ(stub_->RevokeCertificate(&context, revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);
  std::vector<std::string> lines = Lines(log_text_.str(), "admin_call");
  ASSERT_EQ(lines.size(), 1u) << log_text_.str();
  EXPECT_TRUE(absl::StrContains(lines[0], "\"method\":\"RevokeCertificate\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"code\":\"NOT_FOUND\"")) << lines[0];
  EXPECT_EQ(Count(registry_, "Enroll", "OK"), 1);
  EXPECT_EQ(Count(registry_, "RevokeCertificate", "NOT_FOUND"), 1);
}

// A flood of guesses writes at most one line a second, each saying how
// many it stands for; the counter counts them all.
TEST(AdminCallLogTest, RefusalsAreLoggedAtMostOnceASecond) {
  std::ostringstream text;
  metrics::JsonLogger log(&text);
  prometheus::Registry registry;
  gateway::GatewayMetrics metrics(registry);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  AdminCallLog calls(&log, &metrics, [&] { return now; });
  const absl::Status refused = absl::UnauthenticatedError("invalid bearer token");
  for (int i = 0; i < 1000; ++i) calls.Refused("ListRequests", "ipv4:10.0.0.9:5555", refused);
  now += absl::Milliseconds(999);
  calls.Refused("ListRequests", "ipv4:10.0.0.9:5555", refused);
  EXPECT_EQ(Lines(text.str(), "admin_refused").size(), 1u);
  now += absl::Milliseconds(1);
  calls.Refused("GetCRL", "ipv4:10.0.0.9:5556", refused);
  std::vector<std::string> lines = Lines(text.str(), "admin_refused");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(absl::StrContains(lines[0], "\"suppressed\":0")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "\"suppressed\":1000")) << lines[1];
  EXPECT_TRUE(absl::StrContains(lines[1], "\"method\":\"GetCRL\"")) << lines[1];
  EXPECT_EQ(Count(registry, "ListRequests", "UNAUTHENTICATED"), 1000 + 1);
  EXPECT_EQ(Count(registry, "GetCRL", "UNAUTHENTICATED"), 1);
}

}  // namespace
}  // namespace scep::admin
