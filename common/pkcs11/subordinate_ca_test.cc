#include "common/pkcs11/subordinate_ca.h"

#include <openssl/conf.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto/ca_chain.h"
#include "common/crypto/der.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/sandbox_options.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {
namespace {

// A certificate for `key` named `subject`, issued by `issuer` (null:
// self-signed) with `issuer_key`, carrying the extensions in `extensions`.
// `extra` are further extensions in `openssl x509 -extfile` syntax, with
// their sections (dirName:sect) from `conf`.
crypto::X509Ptr MakeCertificate(EVP_PKEY* key, const std::string& subject, X509* issuer,
                                EVP_PKEY* issuer_key, const std::string& basic_constraints,
                                const std::string& key_usage, long serial,
                                const std::vector<std::pair<int, std::string>>& extra = {},
                                CONF* conf = nullptr) {
  crypto::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(subject.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 800);
  X509_set_pubkey(cert.get(), key);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, basic_constraints},
        std::pair<int, std::string>{NID_key_usage, key_usage},
        std::pair<int, std::string>{NID_subject_key_identifier, "hash"},
        std::pair<int, std::string>{NID_authority_key_identifier, "keyid:always"}}) {
    if (value.empty()) continue;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509V3_set_nconf(&ctx, conf);
  for (const auto& [nid, value] : extra) {
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(conf, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(cert.get(), issuer_key, EVP_sha256()), 0);
  return cert;
}

class SubordinateCaTest : public SandboxTokenTest {
 protected:
  void SetUp() override {
    SandboxTokenTest::SetUp();
    if (HasFatalFailure()) return;
    options_.ca_subject = "CN=Example Issuing CA 1,O=Example";
    root_key_.reset(EVP_RSA_gen(2048));
    root_ = MakeCertificate(root_key_.get(), "Example Root", nullptr, root_key_.get(),
                            "critical,CA:TRUE", "critical,keyCertSign,cRLSign", 1);
    policy_key_.reset(EVP_RSA_gen(2048));
    policy_ = MakeCertificate(policy_key_.get(), "Example Policy CA", root_.get(),
                              root_key_.get(), "critical,CA:TRUE", "critical,keyCertSign,cRLSign",
                              2);
  }

  // The CA certificate the policy CA issues for the token's request.
  crypto::X509Ptr SignRequest(const std::string& request_der,
                              const std::string& key_usage = "critical,keyCertSign,cRLSign") {
    auto request = crypto::FromDer<crypto::X509ReqPtr>(
        request_der, d2i_X509_REQ, "request");
    EXPECT_TRUE(request.ok()) << request.status();
    if (!request.ok()) return nullptr;
    EVP_PKEY* key = X509_REQ_get0_pubkey(request->get());
    return MakeCertificate(key, "Example Issuing CA 1", policy_.get(), policy_key_.get(),
                           "critical,CA:TRUE,pathlen:0", key_usage, 3);
  }

  std::vector<crypto::X509Ptr> Chain() {
    std::vector<crypto::X509Ptr> chain;
    chain.emplace_back(X509_dup(policy_.get()));
    chain.emplace_back(X509_dup(root_.get()));
    return chain;
  }

  crypto::EvpPkeyPtr root_key_, policy_key_;
  crypto::X509Ptr root_, policy_;
};

TEST_F(SubordinateCaTest, RequestThenImportGivesAChainedCaAndRa) {
  absl::StatusOr<std::string> request_der = CaCertificateRequest(options_);
  ASSERT_TRUE(request_der.ok()) << request_der.status();
  auto request = crypto::FromDer<crypto::X509ReqPtr>(
                     *request_der, d2i_X509_REQ, "request")
                     .value();
  EXPECT_EQ(X509_REQ_verify(request.get(), X509_REQ_get0_pubkey(request.get())), 1);
  char subject[256];
  X509_NAME_oneline(X509_REQ_get_subject_name(request.get()), subject, sizeof(subject));
  EXPECT_STREQ(subject, "/CN=Example Issuing CA 1/O=Example");
  struct FreeExtensions {
    void operator()(STACK_OF(X509_EXTENSION)* s) const {
      sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
    }
  };
  std::unique_ptr<STACK_OF(X509_EXTENSION), FreeExtensions> requested(
      X509_REQ_get_extensions(request.get()));
  ASSERT_NE(requested, nullptr);
  EXPECT_EQ(sk_X509_EXTENSION_num(requested.get()), 2);

  // The token's CA key is what the request certifies.
  {
    absl::StatusOr<std::unique_ptr<Token>> token = Token::Open(
        {options_.module_path, options_.token_label, options_.user_pin, {}});
    ASSERT_TRUE(token.ok()) << token.status();
    absl::StatusOr<crypto::EvpPkeyPtr> ca_public = (*token)->PublicKey(kCaKeyLabel);
    ASSERT_TRUE(ca_public.ok());
    EXPECT_EQ(EVP_PKEY_eq(ca_public->get(), X509_REQ_get0_pubkey(request.get())), 1);
  }

  crypto::X509Ptr ca = SignRequest(*request_der);
  ProvisionOptions import = options_;
  import.so_pin.clear();
  absl::StatusOr<crypto::X509Ptr> ra = ImportCaCertificate(import, ca.get(), Chain(), dir_);
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(X509_check_issued(ca.get(), ra->get()), X509_V_OK);
  EXPECT_EQ(X509_verify(ra->get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_LE(ASN1_TIME_compare(X509_get0_notAfter(ra->get()), X509_get0_notAfter(ca.get())), 0);

  absl::StatusOr<std::vector<crypto::X509Ptr>> written =
      crypto::LoadCertificateChainFile(dir_ + "/ca-chain.pem");
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_EQ(written->size(), 2u);
  EXPECT_EQ(X509_cmp((*written)[0].get(), policy_.get()), 0);
  EXPECT_EQ(X509_cmp((*written)[1].get(), root_.get()), 0);
  EXPECT_EQ(X509_cmp(ReadCertificatePem(dir_ + "/ca.pem")->get(), ca.get()), 0);
  EXPECT_EQ(X509_cmp(ReadCertificatePem(dir_ + "/ra.pem")->get(), ra->get()), 0);
  EXPECT_TRUE(crypto::VerifyCaChain(ca.get(), *written).ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca-chain.pem.tmp"));
}

TEST_F(SubordinateCaTest, ImportRefusesWhatDoesNotFit) {
  absl::StatusOr<std::string> request_der = CaCertificateRequest(options_);
  ASSERT_TRUE(request_der.ok()) << request_der.status();
  ProvisionOptions import = options_;
  import.so_pin.clear();
  crypto::X509Ptr ca = SignRequest(*request_der);

  // The chain must reach a self-signed root, hold only the path, and the CA
  // certificate must be a CA for the token's key that may sign CRLs.
  std::vector<crypto::X509Ptr> no_root;
  no_root.emplace_back(X509_dup(policy_.get()));
  absl::StatusOr<crypto::X509Ptr> refused = ImportCaCertificate(import, ca.get(), no_root, dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("self-signed root"), std::string::npos);

  std::vector<crypto::X509Ptr> root_only;
  root_only.emplace_back(X509_dup(root_.get()));
  refused = ImportCaCertificate(import, ca.get(), root_only, dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("does not verify"), std::string::npos);

  std::vector<crypto::X509Ptr> stray = Chain();
  crypto::EvpPkeyPtr other_key(EVP_RSA_gen(2048));
  stray.insert(stray.begin(),
               MakeCertificate(other_key.get(), "Stray CA", root_.get(), root_key_.get(),
                               "critical,CA:TRUE", "critical,keyCertSign,cRLSign", 9));
  refused = ImportCaCertificate(import, ca.get(), stray, dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();

  crypto::X509Ptr no_crl_sign = SignRequest(*request_der, "critical,keyCertSign");
  refused = ImportCaCertificate(import, no_crl_sign.get(), Chain(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("cRLSign"), std::string::npos);

  crypto::X509Ptr other = MakeCertificate(other_key.get(), "Example Issuing CA 1",
                                          policy_.get(), policy_key_.get(),
                                          "critical,CA:TRUE", "critical,keyCertSign,cRLSign", 4);
  refused = ImportCaCertificate(import, other.get(), Chain(), dir_);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("not for the token's CA key"), std::string::npos);
  // Nothing was written by any refused import.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca.pem"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca-chain.pem"));
}

// What strict verifiers (and RFC 5280) refuse is refused before anything is
// written: lax OpenSSL defaults accepted all of these.
TEST_F(SubordinateCaTest, ImportRefusesWhatStrictVerifiersRefuse) {
  absl::StatusOr<std::string> request_der = CaCertificateRequest(options_);
  ASSERT_TRUE(request_der.ok()) << request_der.status();
  ProvisionOptions import = options_;
  import.so_pin.clear();
  auto request =
      crypto::FromDer<crypto::X509ReqPtr>(*request_der, d2i_X509_REQ, "request").value();
  EVP_PKEY* ca_key = X509_REQ_get0_pubkey(request.get());
  auto issue = [&](const std::string& basic_constraints,
                   const std::vector<std::pair<int, std::string>>& extra = {},
                   CONF* conf = nullptr) {
    return MakeCertificate(ca_key, "Example Issuing CA 1", policy_.get(), policy_key_.get(),
                           basic_constraints, "critical,keyCertSign,cRLSign", 5, extra, conf);
  };
  std::unique_ptr<CONF, decltype(&NCONF_free)> conf(NCONF_new(nullptr), NCONF_free);
  const std::string sections = "[other_org]\nO = Other Org\n";
  crypto::BioPtr bio(BIO_new_mem_buf(sections.data(), static_cast<int>(sections.size())));
  long error_line = 0;
  ASSERT_EQ(NCONF_load_bio(conf.get(), bio.get(), &error_line), 1);

  const struct {
    const char* what;
    crypto::X509Ptr ca;
    const char* message;
  } cases[] = {
      {"keyCertSign without basicConstraints", issue(""), "basicConstraints"},
      {"basicConstraints not critical", issue("CA:TRUE,pathlen:0"), "does not verify"},
      {"name constraints the RA certificate breaks",
       issue("critical,CA:TRUE,pathlen:0",
             {{NID_name_constraints, "critical,permitted;dirName:other_org"}}, conf.get()),
       "RA certificate"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<crypto::X509Ptr> refused =
        ImportCaCertificate(import, c.ca.get(), Chain(), dir_);
    EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << c.what << ": "
                                                               << refused.status();
    EXPECT_NE(refused.status().message().find(c.message), std::string::npos)
        << c.what << ": " << refused.status();
    for (const char* file : {"/ca.pem", "/ca-chain.pem", "/ra.pem"}) {
      EXPECT_FALSE(std::filesystem::exists(dir_ + file)) << c.what << ": " << file;
    }
  }
  // The signer, checking at start the chain it served with before these
  // checks, still accepts a CA strict verifiers refuse (an upgrade must
  // not stop it); scep-provision refuses it above.
  crypto::X509Ptr lax = issue("CA:TRUE,pathlen:0");
  EXPECT_TRUE(crypto::VerifyCaChain(lax.get(), Chain(), /*strict=*/false).ok());
  EXPECT_FALSE(crypto::VerifyCaChain(lax.get(), Chain()).ok());
  // The same CA without those flaws is imported.
  crypto::X509Ptr good = issue("critical,CA:TRUE,pathlen:0");
  absl::StatusOr<crypto::X509Ptr> ra = ImportCaCertificate(import, good.get(), Chain(), dir_);
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(X509_check_issued(good.get(), ra->get()), X509_V_OK);
}

// A mistyped label adds no key pair to a production token: the import
// looks the keys --ca-csr generated up before anything else.
TEST_F(SubordinateCaTest, ImportWithAMistypedLabelCreatesNothing) {
  absl::StatusOr<std::string> request_der = CaCertificateRequest(options_);
  ASSERT_TRUE(request_der.ok()) << request_der.status();
  crypto::X509Ptr ca = SignRequest(*request_der);
  const TokenConfig config{options_.module_path, options_.token_label, options_.user_pin, {}};
  for (const auto& [ca_label, ra_label] :
       {std::pair{"scep-ca-typo", kRaKeyLabel}, std::pair{kCaKeyLabel, "scep-ra-typo"}}) {
    ProvisionOptions import = options_;
    import.so_pin.clear();
    import.ca_key_label = ca_label;
    import.ra_key_label = ra_label;
    absl::StatusOr<crypto::X509Ptr> refused =
        ImportCaCertificate(import, ca.get(), Chain(), dir_);
    EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
    const std::string typo = ca_label == std::string(kCaKeyLabel) ? ra_label : ca_label;
    EXPECT_NE(refused.status().message().find("'" + typo + "'"), std::string::npos)
        << refused.status();
    EXPECT_TRUE(absl::IsNotFound(InspectPrivateKey(config, typo).status())) << typo;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/ca.pem"));
  }
  ProvisionOptions import = options_;
  import.so_pin.clear();
  EXPECT_TRUE(ImportCaCertificate(import, ca.get(), Chain(), dir_).ok());
}

}  // namespace
}  // namespace scep::pkcs11
