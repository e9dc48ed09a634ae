#include "services/provision/provision_command.h"

#include <openssl/x509.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/softhsm_sandbox.h"
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

}  // namespace
}  // namespace scep::provision
