#include "services/provision/provision_flags.h"

#include <stdlib.h>

#include <fstream>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/provision/provision_command.h"

namespace scep::provision {
namespace {

TEST(ParseCommandLineTest, ParsesTheDocumentedExample) {
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(
      {"--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label",
       "scep-dev", "--ca-key", "ec:p384", "--ra-key=rsa:3072", "--ca-subject",
       "CN=SCEP Dev CA,O=Example", "--ra-subject", "CN=SCEP Dev RA,O=Example",
       "--ca-days", "1000", "--ra-days=100", "--out-dir", "var/pki",
       "--pin-file", "/run/pin", "--if-missing", "--ca-label", "scep-ca-wifi",
       "--ra-label=scep-ra-wifi", "--ra-key-file", "/etc/scep/ra-key.pem"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->options.ra_key_file, "/etc/scep/ra-key.pem");
  EXPECT_EQ(parsed->options.ca_key_label, "scep-ca-wifi");
  EXPECT_EQ(parsed->options.ra_key_label, "scep-ra-wifi");
  EXPECT_EQ(parsed->options.token_label, "scep-dev");
  EXPECT_EQ(parsed->options.ca_key.Name(), "EC-P384");
  EXPECT_EQ(parsed->options.ra_key.Name(), "RSA-3072");
  EXPECT_EQ(parsed->options.ca_subject, "CN=SCEP Dev CA,O=Example");
  EXPECT_EQ(parsed->options.ra_subject, "CN=SCEP Dev RA,O=Example");
  EXPECT_EQ(parsed->options.ca_validity_days, 1000);
  EXPECT_EQ(parsed->options.ra_validity_days, 100);
  EXPECT_EQ(parsed->out_dir, "var/pki");
  EXPECT_EQ(parsed->pin_file, "/run/pin");
  EXPECT_TRUE(parsed->if_missing);
  EXPECT_TRUE(parsed->options.user_pin.empty());
}

TEST(ParseCommandLineTest, RaKeyInAnotherToken) {
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--ra-token-label",
                        "ra-partition", "--ra-pin-file=/run/ra-pin", "--ra-module",
                        "/opt/hsm2/lib.so"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->options.ra_module_path, "/opt/hsm2/lib.so");
  EXPECT_EQ(parsed->options.ra_token_label, "ra-partition");
  EXPECT_EQ(parsed->ra_pin_file, "/run/ra-pin");
  EXPECT_TRUE(parsed->options.ra_user_pin.empty());
}

TEST(ParseCommandLineTest, RenewRa) {
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--renew-ra", "--ra-days", "400"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->renew_ra);
  EXPECT_FALSE(parsed->ra_subject_given);
  EXPECT_EQ(parsed->options.ra_validity_days, 400);
  parsed = ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--renew-ra",
                             "--ra-subject", "CN=RA 2"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->ra_subject_given);
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--renew-ra", "--if-missing"})
          .status()));
}

TEST(ParseCommandLineTest, RolloverAndDropPreviousRa) {
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(
      {"--token-label", "t", "--out-dir", "d", "--rollover-ra", "--ra-key", "rsa:3072"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->rollover_ra);
  EXPECT_FALSE(parsed->drop_previous_ra);
  EXPECT_EQ(parsed->options.ra_key, pkcs11::KeySpec::Rsa(3072));
  parsed = ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--drop-previous-ra"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->drop_previous_ra);
  for (const char* other : {"--renew-ra", "--if-missing", "--drop-previous-ra"}) {
    absl::StatusOr<CommandLine> both = ParseCommandLine(
        {"--token-label", "t", "--out-dir", "d", "--rollover-ra", other});
    EXPECT_TRUE(absl::IsInvalidArgument(both.status())) << other;
  }
  EXPECT_NE(UsageText().find("--rollover-ra"), std::string::npos);
  EXPECT_NE(UsageText().find("--drop-previous-ra"), std::string::npos);
}

TEST(ParseCommandLineTest, SubordinateCaSteps) {
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--ca-csr", "ca.csr"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ca_csr, "ca.csr");
  parsed = ParseCommandLine({"--token-label", "t", "--out-dir", "d", "--import-ca=ca.pem",
                             "--ca-chain", "root.pem"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->import_ca, "ca.pem");
  EXPECT_EQ(parsed->ca_chain, "root.pem");
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--token-label", "t", "--out-dir", "d", "--import-ca", "ca.pem"},
           {"--token-label", "t", "--out-dir", "d", "--ca-chain", "root.pem"},
           {"--token-label", "t", "--out-dir", "d", "--ca-csr", "x", "--renew-ra"},
           {"--token-label", "t", "--out-dir", "d", "--ca-csr", "x", "--import-ca", "y",
            "--ca-chain", "z"}}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseCommandLine(bad).status())) << bad[4];
  }
}

TEST(ParseCommandLineTest, DefaultsMatchTheDocumentation) {
  absl::StatusOr<CommandLine> parsed =
      ParseCommandLine({"--token-label", "t", "--out-dir", "d"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->options.module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(parsed->options.ca_key.Name(), "RSA-2048");
  EXPECT_EQ(parsed->options.ra_key.Name(), "RSA-2048");
  EXPECT_EQ(parsed->options.ca_subject, "CN=SCEP Dev CA");
  EXPECT_EQ(parsed->options.ra_subject, "CN=SCEP Dev RA");
  EXPECT_EQ(parsed->options.ca_validity_days, 3650);
  EXPECT_EQ(parsed->options.ra_validity_days, 730);
  EXPECT_EQ(parsed->options.ra_key_file, "") << "RA key in the token";
  EXPECT_EQ(parsed->options.ra_token_label, "") << "the CA's token";
  EXPECT_EQ(parsed->ra_pin_file, "");
  EXPECT_FALSE(parsed->if_missing);
  EXPECT_FALSE(parsed->renew_ra);
}

TEST(ParseCommandLineTest, RefusesPinsOnTheCommandLineWithoutEchoingThem) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--pin", "4321"},
        std::vector<std::string>{"--so-pin=4321"},
        std::vector<std::string>{"--ra-pin", "4321"},
        std::vector<std::string>{"--token-label", "t", "4321"}}) {
    absl::StatusOr<CommandLine> parsed = ParseCommandLine(args);
    ASSERT_TRUE(absl::IsInvalidArgument(parsed.status())) << args[0];
    EXPECT_EQ(parsed.status().message().find("4321"), absl::string_view::npos)
        << parsed.status();
  }
}

TEST(ParseCommandLineTest, RejectsBadInput) {
  for (std::vector<std::string> args : {
           std::vector<std::string>{"--out-dir", "d"},
           std::vector<std::string>{"--token-label", "t"},
           std::vector<std::string>{"--token-label", "t", "--out-dir", "d",
                                    "--ca-key", "rsa:1024"},
           std::vector<std::string>{"--token-label", "t", "--out-dir", "d",
                                    "--ra-key", "ec:p256"},
           std::vector<std::string>{"--token-label", "t", "--out-dir", "d",
                                    "--ca-days", "0"},
           std::vector<std::string>{"--token-label", "t", "--out-dir", "d",
                                    "--ca-days", "99999"},
           std::vector<std::string>{"--token-label", "t", "--out-dir", "d",
                                    "--ra-days=36601"},
           std::vector<std::string>{"--token-label", "t", "--bogus", "x"},
           std::vector<std::string>{"--token-label"},
       }) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseCommandLine(args).status()))
        << args[0] << " " << args.size();
  }
  absl::StatusOr<CommandLine> help = ParseCommandLine({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_TRUE(help->help);
}

// --help names the signer metric that tells when the previous RA is no
// longer used, as the signer registers it (README "Metrics").
TEST(UsageTextTest, NamesTheMetricTheSignerHas) {
  const std::string usage = UsageText();
  EXPECT_NE(usage.find("scep_signer_previous_ra_decryptions_total"), std::string::npos);
  EXPECT_EQ(usage.find("scep_signer_key_operations"), std::string::npos);
}

TEST(ReadSecretTest, PrefersFileAndStripsNewline) {
  const std::string path =
      ::testing::TempDir() + "/provision_flags_test_pin";
  {
    std::ofstream out(path);
    out << "6543\n";
  }
  setenv("SCEP_TEST_PIN", "from-env", 1);
  EXPECT_EQ(*ReadSecret(path, "SCEP_TEST_PIN", "PIN"), "6543");
  EXPECT_EQ(*ReadSecret("", "SCEP_TEST_PIN", "PIN"), "from-env");
  unsetenv("SCEP_TEST_PIN");
  EXPECT_TRUE(absl::IsNotFound(ReadSecret("", "SCEP_TEST_PIN", "PIN").status()));
  {
    std::ofstream out(path);
    out << "\n";
  }
  absl::StatusOr<std::string> empty = ReadSecret(path, "SCEP_TEST_PIN", "PIN");
  EXPECT_TRUE(absl::IsInvalidArgument(empty.status()));
}

// The PIN from the environment is taken out of it: the variable removed and
// its bytes overwritten (glibc never frees setenv's copy, so they stay
// readable), as /proc/PID/environ would otherwise show them.
TEST(ReadSecretTest, EnvPinIsWipedAndRemoved) {
  setenv("SCEP_TEST_PIN", "from-env", 1);
  const char* original = getenv("SCEP_TEST_PIN");
  ASSERT_NE(original, nullptr);
  EXPECT_EQ(*ReadSecret("", "SCEP_TEST_PIN", "PIN"), "from-env");
  EXPECT_EQ(getenv("SCEP_TEST_PIN"), nullptr);
  EXPECT_EQ(std::string(original, 8), std::string(8, '\0'));
}

}  // namespace
}  // namespace scep::provision
