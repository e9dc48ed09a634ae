// The hooks' client over TLS against a TLS server run by the test, with a
// small PKI made here: the receiver's chain and name verified, kept-alive
// TLS connections, a client certificate for receivers that ask for one,
// and trust files read again when they change.

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/ssl_ptr.h"
#include "common/crypto/test_pki.h"
#include "gtest/gtest.h"
#include "services/gateway/http_post.h"
#include "services/gateway/http_test_server.h"
#include "services/gateway/tls_client.h"

namespace scep::gateway {
namespace {

using crypto::testing::Identity;
using crypto::testing::Issue;

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/scep-https-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::vector<std::pair<int, std::string>> ca_ext = crypto::testing::CaExtensions();
    ca_ = Issue("Hooks Test CA", nullptr, ca_ext);
    other_ca_ = Issue("Some Other CA", nullptr, ca_ext);
    receiver_ = Issue("receiver", &ca_,
                      {{NID_subject_alt_name, "DNS:receiver.test,IP:127.0.0.1"},
                       {NID_ext_key_usage, "serverAuth"}});
    gateway_ = Issue("scep-gateway", &ca_, {{NID_ext_key_usage, "clientAuth"}});
    WritePem(ca_.cert.get(), "ca.pem");
    WritePem(other_ca_.cert.get(), "other-ca.pem");
    WritePem(gateway_.cert.get(), "gateway.pem");
    WriteKey(gateway_.key.get(), "gateway.key");
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }
  void WritePem(X509* cert, const std::string& name) {
    crypto::testing::WritePemFile(Path(name), cert);
  }
  void WriteKey(EVP_PKEY* key, const std::string& name) {
    crypto::testing::WriteKeyFile(Path(name), key);
  }

  // The receiver's TLS; with `client_ca` it requires a client certificate
  // issued by it.
  crypto::SslPtr<SSL_CTX, SSL_CTX_free> ServerContext(X509* client_ca = nullptr) {
    crypto::SslPtr<SSL_CTX, SSL_CTX_free> ctx(SSL_CTX_new(TLS_server_method()));
    EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), receiver_.cert.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), receiver_.key.get()), 1);
    if (client_ca != nullptr) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), client_ca);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return ctx;
  }

  std::shared_ptr<TlsClientContext> Client(TlsClientFiles files,
                                           absl::Duration recheck = absl::Seconds(10)) {
    auto context = TlsClientContext::New(std::move(files), "notify.tls", recheck);
    EXPECT_TRUE(context.ok()) << context.status();
    return context.ok() ? *context : nullptr;
  }

  std::string dir_;
  Identity ca_, other_ca_, receiver_, gateway_;
};

std::string Ok(int) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; }
bool Never(int) { return false; }
absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST_F(HttpsTest, ATrustedReceiverGetsEveryPostOnOneKeptConnection) {
  auto server_ctx = ServerContext();
  TestServer server(Ok, Never, server_ctx.get());
  auto tls = Client({Path("ca.pem"), "", ""});
  KeptAliveHttpClient client;
  for (int i = 0; i < 3; ++i) {
    auto answer = client.Post(server.Url(), absl::StrCat("{\"n\":", i, "}"), Soon(),
                              "notice receiver", "", tls.get());
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "ok");
  }
  EXPECT_EQ(server.bodies().size(), 3u);
  EXPECT_EQ(server.bodies()[2], "{\"n\":2}");
  EXPECT_EQ(client.opened(), 1u);
  EXPECT_EQ(server.accepted(), 1);
  // The one-shot form too, and the name checked for a DNS host as well.
  auto once = PostJson(server.Url(), "{}", Soon(), "verifier", tls.get());
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(once->status, 200);
}

TEST_F(HttpsTest, AReceiverTheCaDoesNotVouchForGetsNothing) {
  auto server_ctx = ServerContext();
  TestServer server(Ok, Never, server_ctx.get());
  auto tls = Client({Path("other-ca.pem"), "", ""});
  KeptAliveHttpClient client;
  auto answer = client.Post(server.Url(), "{\"secret\":1}", Soon(), "notice receiver", "", tls.get());
  ASSERT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(answer.status().message(),
                                "notice receiver TLS handshake failed: certificate verify failed"))
      << answer.status();
  EXPECT_TRUE(server.bodies().empty());  // nothing sent to it
}

// The certificate is valid, but for other names: refused, as a
// certificate of any other host under the same CA would be.
TEST_F(HttpsTest, ACertificateForAnotherNameIsRefused) {
  auto server_ctx = ServerContext();
  TestServer server(Ok, Never, server_ctx.get());
  auto tls = Client({Path("ca.pem"), "", ""});
  auto answer = PostJson(server.Url("localhost"), "{}", Soon(), "verifier", tls.get());
  ASSERT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(answer.status().message(), "hostname mismatch"))
      << answer.status();
  EXPECT_TRUE(server.bodies().empty());
}

TEST_F(HttpsTest, HttpsWithoutTlsSettingsIsRefusedNotSentInTheClear) {
  auto server_ctx = ServerContext();
  TestServer server(Ok, Never, server_ctx.get());
  auto answer = PostJson(server.Url(), "{}", Soon(), "verifier", nullptr);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.accepted(), 0);
}

TEST_F(HttpsTest, AReceiverAskingForAClientCertificateGetsTheGateways) {
  auto server_ctx = ServerContext(ca_.cert.get());
  TestServer server(Ok, Never, server_ctx.get());
  // Without one: the receiver refuses the connection, and says why.
  auto anonymous = Client({Path("ca.pem"), "", ""});
  auto refused = PostJson(server.Url(), "{}", Soon(), "notice receiver", anonymous.get());
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "certificate")) << refused.status();
  EXPECT_TRUE(server.bodies().empty());
  // The server counts it once its SSL_accept returns, which may be after
  // the client read the alert.
  for (int i = 0; i < 200 && server.failed_handshakes() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(server.failed_handshakes(), 1);
  // With it: delivered, and the receiver saw who sent it.
  auto mutual = Client({Path("ca.pem"), Path("gateway.pem"), Path("gateway.key")});
  KeptAliveHttpClient client;
  auto answer = client.Post(server.Url(), "{}", Soon(), "notice receiver", "", mutual.get());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200);
  ASSERT_EQ(server.client_names().size(), 1u);
  EXPECT_EQ(server.client_names()[0], "scep-gateway");
}

TEST_F(HttpsTest, TrustFilesAreReadAgainWhenTheyChange) {
  auto server_ctx = ServerContext();
  TestServer server(Ok, Never, server_ctx.get());
  // The bundle starts with the wrong CA; the administrator fixes it.
  ASSERT_EQ(std::system(absl::StrCat("cp ", Path("other-ca.pem"), " ", Path("bundle.pem")).c_str()),
            0);
  std::ostringstream logged;
  metrics::JsonLogger log(&logged);
  auto made = TlsClientContext::New({Path("bundle.pem"), "", ""}, "notify.tls",
                                    absl::ZeroDuration(), TlsReloadLog{&log, "intune"});
  ASSERT_TRUE(made.ok()) << made.status();
  std::shared_ptr<TlsClientContext> tls = *made;
  EXPECT_FALSE(PostJson(server.Url(), "{}", Soon(), "verifier", tls.get()).ok());
  ASSERT_EQ(std::system(absl::StrCat("cat ", Path("other-ca.pem"), " ", Path("ca.pem"), " > ",
                                     Path("bundle.new"), " && mv ", Path("bundle.new"), " ",
                                     Path("bundle.pem"))
                            .c_str()),
            0);
  auto answer = PostJson(server.Url(), "{}", Soon(), "verifier", tls.get());
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(tls->reloads(), 1);
  EXPECT_TRUE(absl::StrContains(
      logged.str(), R"("event":"hook_tls_reloaded","profile":"intune","setting":"notify.tls")"))
      << logged.str();
  // A change that does not load (a truncated file) keeps what worked.
  ASSERT_EQ(std::system(absl::StrCat("echo broken > ", Path("bundle.pem")).c_str()), 0);
  EXPECT_TRUE(PostJson(server.Url(), "{}", Soon(), "verifier", tls.get()).ok());
  EXPECT_EQ(tls->reloads(), 1);
  // ... and says so.
  EXPECT_TRUE(absl::StrContains(logged.str(), R"("event":"hook_tls_reload_failed")"))
      << logged.str();
  EXPECT_TRUE(absl::StrContains(logged.str(), "no CA certificate loads from " + Path("bundle.pem")))
      << logged.str();
  EXPECT_FALSE(absl::StrContains(logged.str(), "broken")) << logged.str();  // not the contents
}

// A key for another certificate, or one under a passphrase (which must
// not make the gateway wait for someone to type it): refused at load.
TEST_F(HttpsTest, AClientKeyThatDoesNotFitIsRefusedAtLoad) {
  WriteKey(receiver_.key.get(), "receiver.key");
  auto mismatch = TlsClientContext::New({"", Path("gateway.pem"), Path("receiver.key")}, "notify.tls");
  ASSERT_EQ(mismatch.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(mismatch.status().message(),
                               "notify.tls.key_file: does not match cert_file: " + Path("receiver.key")))
      << mismatch.status();
  FILE* f = fopen(Path("locked.key").c_str(), "w");
  ASSERT_NE(f, nullptr);
  static const char kPass[] = "passphrase";
  PEM_write_PrivateKey(f, gateway_.key.get(), EVP_aes_256_cbc(),
                       reinterpret_cast<const unsigned char*>(kPass), sizeof(kPass) - 1, nullptr,
                       nullptr);
  fclose(f);
  auto locked = TlsClientContext::New({"", Path("gateway.pem"), Path("locked.key")}, "notify.tls");
  ASSERT_EQ(locked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(locked.status().message(),
                               "notify.tls.key_file: no unencrypted PEM private key loads from"))
      << locked.status();
}

TEST(TlsClientContextTest, FilesThatDoNotLoadAreNamedNeverShown) {
  char dir[] = "/tmp/scep-tls-files-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string junk = absl::StrCat(dir, "/junk.pem");
  ASSERT_EQ(std::system(absl::StrCat("echo not-a-certificate-Sekr1t > ", junk).c_str()), 0);
  struct Case {
    TlsClientFiles files;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"/nonexistent/ca.pem", "", ""}, "notify.tls.ca_file: no CA certificate loads from /nonexistent/ca.pem"},
           {{junk, "", ""}, "notify.tls.ca_file: no CA certificate loads from " + junk},
           {{"", junk, junk}, "notify.tls.cert_file: no certificate loads from " + junk},
           {{"", junk, ""}, "notify.tls: cert_file and key_file go together"},
       }) {
    auto context = TlsClientContext::New(c.files, "notify.tls");
    ASSERT_EQ(context.status().code(), absl::StatusCode::kFailedPrecondition) << c.want;
    EXPECT_TRUE(absl::StartsWith(context.status().message(), c.want)) << context.status();
    EXPECT_FALSE(absl::StrContains(context.status().message(), "Sekr1t")) << context.status();
  }
  // The system's trust store: loads (an empty ca_file).
  EXPECT_TRUE(TlsClientContext::New({}, "notify.tls").ok());
  std::system(absl::StrCat("rm -rf ", dir).c_str());
}

}  // namespace
}  // namespace scep::gateway
