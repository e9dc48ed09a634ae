#include <grpcpp/grpcpp.h>

#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/codec/client.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "common/rpc/call_deadline.h"
#include "gtest/gtest.h"
#include "scep/admin/v1/admin.grpc.pb.h"
#include "services/admin/admin_auth.h"
#include "services/admin/admin_server.h"
#include "services/gateway/in_process_signer.h"

namespace scep::admin {
namespace {

constexpr char kToken[] = "t0ken-For-The-Admin-API";

// Under this process's own name: ctest runs each test as a process of its
// own, in parallel, and one truncating a shared file while another reads
// it made the reader see an empty token file.
std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path =
      ::testing::TempDir() + "/" + name + "-" + std::to_string(getpid());
  std::ofstream(path) << content;
  return path;
}

TEST(AdminAuthenticatorTest, RefusesToRunWithoutAnyCredential) {
  EXPECT_EQ(AdminAuthenticator::New({}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AdminAuthenticatorTest, BearerTokenIsCheckedExactly) {
  AdminAuthOptions options;
  options.token = kToken;
  auto auth = AdminAuthenticator::New(options).value();
  EXPECT_EQ(auth.Authenticate(std::string("Bearer ") + kToken, nullptr).value(), "token");
  EXPECT_EQ(auth.Authenticate(std::string("bearer  ") + kToken, nullptr).value(), "token");
  for (const std::string& wrong :
       {std::string("Bearer ") + kToken + "x", std::string("Bearer t0ken"),
        std::string(kToken), std::string("Basic ") + kToken, std::string("Bearer ")}) {
    absl::StatusOr<std::string> actor = auth.Authenticate(wrong, nullptr);
    EXPECT_EQ(actor.status().code(), absl::StatusCode::kUnauthenticated) << wrong;
    EXPECT_EQ(actor.status().message().find(kToken), std::string::npos);
  }
  EXPECT_EQ(auth.Authenticate(std::nullopt, nullptr).status().code(),
            absl::StatusCode::kUnauthenticated);
}

// A TLS peer whose client certificate the transport verified.
class VerifiedPeer : public grpc::AuthContext {
 public:
  explicit VerifiedPeer(std::string cn, std::vector<std::string> sans = {},
                        std::string pem = "")
      : cn_(std::move(cn)), sans_(std::move(sans)), pem_(std::move(pem)) {}
  bool IsPeerAuthenticated() const override { return true; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {cn_}; }
  std::string GetPeerIdentityPropertyName() const override { return "x509_common_name"; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    if (name == "x509_common_name") return {cn_};
    if (name == "x509_subject_alternative_name") return {sans_.begin(), sans_.end()};
    if (name == "x509_pem_cert" && !pem_.empty()) return {pem_};
    return {};
  }
  grpc::AuthPropertyIterator begin() const override { return NoProperties(); }
  grpc::AuthPropertyIterator end() const override { return NoProperties(); }
  void AddProperty(const std::string&, const grpc::string_ref&) override {}
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct NoProperties : grpc::AuthPropertyIterator {};
  std::string cn_;
  std::vector<std::string> sans_;
  std::string pem_;
};

// --admin_tls_allowed_clients: only the named certificates get in, by CN
// or by subjectAltName; another certificate of the same client CA is
// refused (before, any certificate the client CA issued was an admin).
TEST(AdminAuthenticatorTest, OnlyAllowedClientCertificatesGetIn) {
  AdminAuthOptions options;
  options.client_certificates = true;
  options.allowed_clients = {"ops-alice", "spiffe://corp/mdm-connector"};
  auto auth = AdminAuthenticator::New(options).value();
  VerifiedPeer alice("ops-alice");
  EXPECT_EQ(auth.Authenticate(std::nullopt, &alice).value(), "ops-alice");
  VerifiedPeer connector("", {"spiffe://corp/mdm-connector"});
  EXPECT_TRUE(auth.Authenticate(std::nullopt, &connector).ok());
  VerifiedPeer laptop("laptop-7", {"laptop-7.devices.example"});
  absl::StatusOr<std::string> refused = auth.Authenticate(std::nullopt, &laptop);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("allowed_clients"), std::string::npos);
  VerifiedPeer prefix("ops-alice-old");  // names match whole
  EXPECT_EQ(auth.Authenticate(std::nullopt, &prefix).status().code(),
            absl::StatusCode::kPermissionDenied);
}

// A certificate one of the service's CAs issued to a device is never an
// admin credential, whatever the client CA (the issuing CA itself, or a
// root above it, made every enrolled device an administrator).
TEST(AdminAuthenticatorTest, DeviceCertificatesAreRefused) {
  AdminAuthOptions options;
  options.client_certificates = true;
  std::vector<std::string> checked;
  options.issued_to_device = [&](absl::string_view pem) {
    checked.emplace_back(pem);
    return pem == "device-pem";
  };
  auto auth = AdminAuthenticator::New(options).value();
  VerifiedPeer device("dev-2", {}, "device-pem");
  EXPECT_EQ(auth.Authenticate(std::nullopt, &device).status().code(),
            absl::StatusCode::kPermissionDenied);
  VerifiedPeer operator_cert("ops-bob", {}, "operator-pem");
  EXPECT_EQ(auth.Authenticate(std::nullopt, &operator_cert).value(), "ops-bob");
  EXPECT_EQ(checked, (std::vector<std::string>{"device-pem", "operator-pem"}));
}

// Mutual TLS only: an authorization header (a stale SCEP_ADMIN_TOKEN in
// scepctl's environment) does not shut out a valid client certificate.
TEST(AdminAuthenticatorTest, WithoutATokenTheHeaderIsIgnored) {
  AdminAuthOptions options;
  options.client_certificates = true;
  auto auth = AdminAuthenticator::New(options).value();
  VerifiedPeer peer("ops-alice");
  EXPECT_EQ(auth.Authenticate(std::string("Bearer stale"), &peer).value(), "ops-alice");
  EXPECT_EQ(auth.Authenticate(std::nullopt, &peer).value(), "ops-alice");
  EXPECT_EQ(auth.Authenticate(std::string("Bearer stale"), nullptr).status().code(),
            absl::StatusCode::kUnauthenticated);
  // With a token configured, a header is judged by it alone.
  options.token = kToken;
  auto both = AdminAuthenticator::New(options).value();
  EXPECT_EQ(both.Authenticate(std::string("Bearer stale"), &peer).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(both.Authenticate(std::string("Bearer ") + kToken, &peer).value(), "token");
  EXPECT_EQ(both.Authenticate(std::nullopt, &peer).value(), "ops-alice");
}

TEST(AdminServerStartTest, RefusesNoCredentialsAndHalfTls) {
  AdminServerOptions options;
  options.port = 0;
  EXPECT_EQ(AdminServer::Start(options, {}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  options.token_file = WriteFile("empty-token", "\n");
  EXPECT_EQ(AdminServer::Start(options, {}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  options.token_file = WriteFile("token", kToken);
  options.tls_cert = gateway::testing::Testdata("ca.pem");
  EXPECT_EQ(AdminServer::Start(options, {}, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// --admin_address=::1: the literal needs brackets before the port.
TEST(AdminServerStartTest, ListensOnAnIpv6Address) {
  for (const char* address : {"::1", "[::1]"}) {
    AdminServerOptions options;
    options.address = address;
    options.port = 0;
    options.token_file = WriteFile("token", kToken);
    absl::StatusOr<std::unique_ptr<AdminServer>> server = AdminServer::Start(options, {}, {});
    ASSERT_TRUE(server.ok()) << address << ": " << server.status();
    auto stub = v1::Admin::NewStub(grpc::CreateChannel(
        "[::1]:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListProfilesResponse response;
    // Reached (and refused for want of the token), not UNAVAILABLE.
    EXPECT_EQ(stub->ListProfiles(&context, v1::ListProfilesRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << address;
  }
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway::Profile profile;
    profiles_ = gateway::ProfileSet::New({profile}).value();
    ASSERT_TRUE(ca_.Refresh(signer_).ok());
    AdminDeps deps;
    deps.profiles = profiles_.get();
    deps.ca = &ca_;
    AdminServerOptions options;
    options.port = 0;
    options.token_file = WriteFile("token", std::string(kToken) + "\n");
    server_ = AdminServer::Start(options, {}, deps).value();
    stub_ = v1::Admin::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  grpc::Status ListProfiles(const std::string& authorization,
                            v1::ListProfilesResponse* response) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    return stub_->ListProfiles(&context, v1::ListProfilesRequest(), response);
  }

  gateway::testing::InProcessSigner signer_;
  gateway::CaCertificates ca_;
  std::unique_ptr<gateway::ProfileSet> profiles_;
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<v1::Admin::Stub> stub_;
};

TEST_F(AdminServerTest, CallsWithoutTheTokenAreUnauthenticated) {
  v1::ListProfilesResponse response;
  EXPECT_EQ(ListProfiles("", &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ListProfiles("Bearer wrong", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Every method is guarded, not only the one tried above.
  grpc::ClientContext context;
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex("01");
  v1::RevokeCertificateResponse revoked;
  EXPECT_EQ(stub_->RevokeCertificate(&context, revoke, &revoked).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  grpc::Status ok = ListProfiles(std::string("Bearer ") + kToken, &response);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  ASSERT_EQ(response.profiles_size(), 1);
  EXPECT_EQ(response.profiles(0).name(), "default");
  EXPECT_FALSE(response.profiles(0).ca_certificate().empty());
}

// A caller that gave up is not served behind its back: a call still queued
// when its deadline passes does nothing (before, it issued a certificate
// nobody received, and the caller's retry issued another).
TEST(AdminServerDeadlineTest, ACallQueuedPastItsDeadlineIsNotServed) {
  gateway::testing::InProcessSigner signer;
  gateway::CaCertificates ca;
  ASSERT_TRUE(ca.Refresh(signer).ok());
  gateway::Profile profile;
  profile.challenge = "unused";
  std::unique_ptr<gateway::ProfileSet> profiles = gateway::ProfileSet::New({profile}).value();
  redis::MemoryCertificateIndex index;
  std::unique_ptr<redis::MemoryEnrollmentStore> transactions =
      redis::MemoryEnrollmentStore::New();
  gateway::ProfileIssuer issuer(&signer, &index);
  AdminDeps deps;
  deps.profiles = profiles.get();
  deps.ca = &ca;
  deps.index = &index;
  deps.transactions = transactions.get();
  deps.signer = &signer;
  deps.issuer = &issuer;
  AdminServerOptions options;
  options.port = 0;
  options.workers = 1;
  options.token_file = WriteFile("token", kToken);
  std::unique_ptr<AdminServer> server = AdminServer::Start(options, {}, deps).value();
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials());
  auto enroll = [&](const std::string& cn, std::chrono::milliseconds deadline) {
    crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
    codec::CsrSpec spec;
    spec.common_name = cn;
    v1::EnrollRequest request;
    request.set_profile("default");
    request.set_csr(codec::BuildCsr(key.get(), spec).value());
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::EnrollResponse response;
    return v1::Admin::NewStub(channel)->Enroll(&context, request, &response);
  };
  // The first call holds the only worker for a while (a slow HSM).
  std::atomic<bool> slow{true};
  std::atomic<bool> issuing{false};
  signer.before_issue = [&] {
    if (!slow.exchange(false)) return;
    issuing = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  };
  std::thread first([&] { EXPECT_TRUE(enroll("first", std::chrono::seconds(30)).ok()); });
  for (int i = 0; i < 1000 && !issuing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(issuing);
  EXPECT_EQ(enroll("gave-up", std::chrono::milliseconds(300)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  first.join();
  // Served after the queued one: by then the worker has skipped it.
  EXPECT_TRUE(enroll("later", std::chrono::seconds(30)).ok());
  EXPECT_EQ(signer.issued.load(), 2);
}

TEST(ScopedCallDeadlineTest, DownstreamCallsEndWithinTheCallersDeadline) {
  const absl::Time now = absl::Now();
  EXPECT_EQ(rpc::CallDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(rpc::WithinCallDeadline(now + absl::Seconds(5)), now + absl::Seconds(5));
  {
    rpc::ScopedCallDeadline caller(now + absl::Seconds(2));
    EXPECT_EQ(rpc::WithinCallDeadline(now + absl::Seconds(5)), now + absl::Seconds(2));
    EXPECT_EQ(rpc::WithinCallDeadline(now + absl::Seconds(1)), now + absl::Seconds(1));
    {
      rpc::ScopedCallDeadline later(now + absl::Seconds(9));  // never extends
      EXPECT_EQ(rpc::CallDeadline(), now + absl::Seconds(2));
    }
    EXPECT_EQ(rpc::CallDeadline(), now + absl::Seconds(2));
  }
  EXPECT_EQ(rpc::CallDeadline(), absl::InfiniteFuture());
}

}  // namespace
}  // namespace scep::admin
