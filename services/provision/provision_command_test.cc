#include "services/provision/provision_command.h"

#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/base/secret.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "common/pkcs11/token.h"
#include "gtest/gtest.h"
#include "services/provision/provision_flags.h"

namespace scep::provision {
namespace {

constexpr char kPin[] = "246810";
constexpr char kSoPin[] = "13579";

// scep-provision against a SoftHSMv2 token of its own, PINs from files.
class ProvisionCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<pkcs11::SoftHsmSandbox>> sandbox =
        pkcs11::SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    pin_file_ = sandbox_->dir() + "/pin";
    so_pin_file_ = sandbox_->dir() + "/so-pin";
    std::ofstream(pin_file_) << kPin << "\n";
    std::ofstream(so_pin_file_) << kSoPin << "\n";
  }

  // Runs scep-provision with `args` and the token flags; its output in
  // `output_`.
  absl::Status Run(std::vector<std::string> args) {
    for (const char* flag : {"--module", SCEP_SOFTHSM2_MODULE, "--token-label", "scep-dev",
                             "--pin-file"}) {
      args.push_back(flag);
    }
    args.push_back(pin_file_);
    absl::StatusOr<CommandLine> command_line = ParseCommandLine(args);
    if (!command_line.ok()) return command_line.status();
    std::ostringstream out;
    absl::Status status = RunProvision(*std::move(command_line), out);
    output_ = out.str();
    EXPECT_EQ(output_.find(kPin), std::string::npos);
    EXPECT_EQ(std::string(status.message()).find(kPin), std::string::npos);
    return status;
  }

  std::string Dir(const std::string& name) const { return sandbox_->dir() + "/" + name; }

  crypto::X509Ptr Read(const std::string& path) {
    absl::StatusOr<crypto::X509Ptr> cert = pkcs11::ReadCertificatePem(path);
    EXPECT_TRUE(cert.ok()) << path << ": " << cert.status();
    return cert.ok() ? *std::move(cert) : nullptr;
  }

  // The default CA in pki/, a second one (labels scep-ca-wifi,
  // scep-ra-wifi) in pki/wifi.
  void ProvisionTwoCas() {
    ASSERT_TRUE(Run({"--out-dir", Dir("pki"), "--so-pin-file", so_pin_file_}).ok()) << output_;
    absl::Status wifi = Run({"--out-dir", Dir("pki/wifi"), "--if-missing", "--ca-label",
                             "scep-ca-wifi", "--ra-label", "scep-ra-wifi", "--ca-subject",
                             "CN=Wi-Fi CA", "--ra-subject", "CN=Wi-Fi RA"});
    ASSERT_TRUE(wifi.ok()) << wifi;
  }

  std::unique_ptr<pkcs11::SoftHsmSandbox> sandbox_;
  std::string pin_file_;
  std::string so_pin_file_;
  std::string output_;
};

// A PIN ending in a blank: scep-provision set it with the blank and the
// signer stripped it, so every start failed with CKR_PIN_INCORRECT (and
// each restart spent one of the PIN's tries).
TEST_F(ProvisionCommandTest, PinFileEndingInABlankOpensTheTokenItProvisioned) {
  std::ofstream(pin_file_, std::ios::binary | std::ios::trunc) << "pin-with-space \n";
  ASSERT_TRUE(Run({"--out-dir", Dir("pki"), "--so-pin-file", so_pin_file_}).ok()) << output_;
  // What scep-signer does with --pin_file.
  absl::StatusOr<std::string> pin = base::ReadPin("HSM PIN", pin_file_, "SCEP_TEST_UNSET_PIN");
  ASSERT_TRUE(pin.ok()) << pin.status();
  absl::StatusOr<std::unique_ptr<pkcs11::Token>> token =
      pkcs11::Token::Open({SCEP_SOFTHSM2_MODULE, "scep-dev", *pin, {}});
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE((*token)->PrivateKeyAttributes(pkcs11::kCaKeyLabel).ok());
}

TEST_F(ProvisionCommandTest, RenewRaRefusesToCertifyAnotherKeyThanRaPems) {
  ProvisionTwoCas();
  crypto::X509Ptr wifi_ra = Read(Dir("pki/wifi/ra.pem"));
  ASSERT_NE(wifi_ra, nullptr);

  // The Wi-Fi CA's label but not its RA's: scep-ra is the default CA's.
  absl::Status renewed =
      Run({"--renew-ra", "--out-dir", Dir("pki/wifi"), "--ca-label", "scep-ca-wifi"});
  EXPECT_TRUE(absl::IsFailedPrecondition(renewed)) << renewed << "\n" << output_;
  EXPECT_NE(renewed.message().find("--ra-label scep-ra-wifi"), std::string::npos) << renewed;
  EXPECT_EQ(output_.find("renewed"), std::string::npos) << output_;
  EXPECT_EQ(X509_cmp(Read(Dir("pki/wifi/ra.pem")).get(), wifi_ra.get()), 0);
  EXPECT_FALSE(std::filesystem::exists(Dir("pki/wifi/ra-previous.pem")));

  // With both labels: the same key, certified again.
  renewed = Run({"--renew-ra", "--out-dir", Dir("pki/wifi"), "--ca-label", "scep-ca-wifi",
                 "--ra-label", "scep-ra-wifi"});
  ASSERT_TRUE(renewed.ok()) << renewed;
  EXPECT_NE(output_.find("renewed (same RA key)"), std::string::npos) << output_;
  crypto::X509Ptr renewed_ra = Read(Dir("pki/wifi/ra.pem"));
  ASSERT_NE(renewed_ra, nullptr);
  EXPECT_NE(X509_cmp(renewed_ra.get(), wifi_ra.get()), 0);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(renewed_ra.get()), X509_get0_pubkey(wifi_ra.get())),
            1);
  EXPECT_EQ(X509_cmp(Read(Dir("pki/wifi/ra-previous.pem")).get(), wifi_ra.get()), 0);
}

// A subject as the RA certificate holds it: a multi-valued RDN (CN+UID), a
// CN with characters RFC 4514 escapes, an attribute type without a name.
crypto::X509NamePtr UnusualSubject() {
  crypto::X509NamePtr name(X509_NAME_new());
  const auto add = [&](const char* type, const char* value, int set) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name.get(), type, MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(value), -1,
                                         -1, set),
              1)
        << type;
  };
  add("O", "Example, Inc.", 0);
  add("CN", "RA \"one\" + \\two", 0);
  add("UID", "ra-1", -1);  // the CN's RDN
  add("1.3.6.1.4.1.55555.1", "opaque", 0);
  return name;
}

// `ra` again with `subject`, for the same key (signed by a throwaway key:
// scep-provision only reads its subject and key).
crypto::X509Ptr WithSubject(const X509* ra, const X509_NAME* subject) {
  crypto::X509Ptr cert(X509_new());
  crypto::EvpPkeyPtr signer(EVP_RSA_gen(2048));
  EXPECT_NE(signer, nullptr);
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_set_subject_name(cert.get(), subject);
  X509_set_issuer_name(cert.get(), subject);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), X509_get0_pubkey(ra));
  EXPECT_GT(X509_sign(cert.get(), signer.get(), EVP_sha256()), 0);
  return cert;
}

TEST_F(ProvisionCommandTest, RenewalAndRolloverKeepTheRaSubjectAsItIs) {
  ASSERT_TRUE(Run({"--out-dir", Dir("pki"), "--so-pin-file", so_pin_file_, "--ra-subject",
                   "CN=Devices RA\\, Example,O=Plus+Sign \"Q\" Back\\\\slash"})
                  .ok())
      << output_;
  crypto::X509Ptr first = Read(Dir("pki/ra.pem"));
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(X509_NAME_entry_count(X509_get_subject_name(first.get())), 2);

  absl::Status renewed = Run({"--renew-ra", "--out-dir", Dir("pki")});
  ASSERT_TRUE(renewed.ok()) << renewed;
  crypto::X509Ptr second = Read(Dir("pki/ra.pem"));
  ASSERT_NE(second, nullptr);
  EXPECT_NE(X509_cmp(second.get(), first.get()), 0);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(second.get()),
                          X509_get_subject_name(first.get())),
            0);

  crypto::X509NamePtr unusual = UnusualSubject();
  ASSERT_TRUE(pkcs11::WriteCertificatePem(WithSubject(second.get(), unusual.get()).get(),
                                          Dir("pki/ra.pem"))
                  .ok());
  for (const char* step : {"--renew-ra", "--rollover-ra"}) {
    absl::Status status = Run({step, "--out-dir", Dir("pki")});
    ASSERT_TRUE(status.ok()) << step << ": " << status;
    crypto::X509Ptr ra = Read(Dir("pki/ra.pem"));
    ASSERT_NE(ra, nullptr);
    const X509_NAME* subject = X509_get_subject_name(ra.get());
    EXPECT_EQ(X509_NAME_cmp(subject, unusual.get()), 0) << step;
    EXPECT_EQ(X509_NAME_entry_count(subject), 4) << step;
    EXPECT_EQ(X509_NAME_ENTRY_set(X509_NAME_get_entry(subject, 2)),
              X509_NAME_ENTRY_set(X509_NAME_get_entry(subject, 1)))
        << step << ": CN and UID stay one RDN";
  }
}

// What a CA certificate of another key gets told depends on the path: only
// a fresh provision may mint a new CA, and it says what that costs.
TEST_F(ProvisionCommandTest, ACaCertificateOfAnotherKeyIsRefusedWithAdviceForThePath) {
  ASSERT_TRUE(Run({"--out-dir", Dir("pki"), "--so-pin-file", so_pin_file_}).ok()) << output_;
  // Another CA's certificate in pki/ca.pem: a copy from the wrong directory.
  crypto::EvpPkeyPtr other_key(EVP_RSA_gen(2048));
  crypto::X509Ptr ca = Read(Dir("pki/ca.pem"));
  ASSERT_NE(ca, nullptr);
  crypto::X509Ptr other(X509_dup(ca.get()));
  X509_set_pubkey(other.get(), other_key.get());
  ASSERT_GT(X509_sign(other.get(), other_key.get(), EVP_sha256()), 0);
  ASSERT_TRUE(pkcs11::WriteCertificatePem(other.get(), Dir("pki/ca.pem")).ok());
  const std::string ca_path = Dir("pki/ca.pem");

  for (const char* step : {"--renew-ra", "--rollover-ra"}) {
    absl::Status refused = Run({step, "--out-dir", Dir("pki")});
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << step << ": " << refused;
    EXPECT_NE(refused.message().find("'" + ca_path + "'"), std::string::npos) << refused;
    EXPECT_NE(refused.message().find("'scep-ca'"), std::string::npos) << refused;
    EXPECT_EQ(refused.message().find("move"), std::string::npos) << step << ": " << refused;
  }

  // --if-missing with ra.pem gone reuses the token and keeps ca.pem.
  std::filesystem::remove(Dir("pki/ra.pem"));
  absl::Status refused = Run({"--out-dir", Dir("pki"), "--if-missing"});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("'" + ca_path + "'"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("fingerprint changes"), std::string::npos) << refused;
  EXPECT_FALSE(std::filesystem::exists(Dir("pki/ra.pem")));
  // A CA label without a key: refused, and no key generated for it.
  refused = Run({"--out-dir", Dir("pki"), "--if-missing", "--ca-label", "scep-ca-typo"});
  EXPECT_TRUE(absl::IsNotFound(refused)) << refused;
  EXPECT_NE(refused.message().find("'scep-ca-typo'"), std::string::npos) << refused;
  EXPECT_TRUE(absl::IsNotFound(
      pkcs11::InspectPrivateKey({SCEP_SOFTHSM2_MODULE, "scep-dev", kPin, {}}, "scep-ca-typo")
          .status()));
}

}  // namespace
}  // namespace scep::provision
