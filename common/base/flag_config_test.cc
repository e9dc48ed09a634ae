#include "common/base/flag_config.h"

#include <cstdio>
#include <fstream>
#include <map>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, fc_port, 8080, "test setting");
ABSL_FLAG(std::string, fc_host, "127.0.0.1", "test setting");
ABSL_FLAG(bool, fc_legacy, false, "test setting");
ABSL_FLAG(std::string, fc_secret_file, "", "test setting naming a secret's file");
ABSL_FLAG(std::string, fc_password, "", "a secret value: never a setting");
ABSL_FLAG(int, fc_token_wait_seconds, 60, "a duration, though named after a token");

namespace scep::base {
namespace {

class FlagConfigTest : public ::testing::Test {
 protected:
  FlagConfigTest() {
    options_.program = "fc-test";
    options_.env_prefix = "SCEP_FC_";
    options_.defining_file_suffix = "flag_config_test.cc";
    options_.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }

  absl::FlagSaver saver_;  // every test starts from the defaults
  std::map<std::string, std::string> env_;
  FlagConfigOptions options_;
  FlagSources sources_;
};

TEST_F(FlagConfigTest, FileSetsValuesAndRecordsTheSource) {
  ASSERT_TRUE(ApplyFlagSettings("gw.conf",
                                "# comment\n\n fc_port = 9000 \n"
                                "fc_host=\" 10.0.0.1 \"\nfc_legacy = true\n"
                                "fc_secret_file = /run/secret\n",
                                options_, sources_)
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_port), 9000);
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_host), " 10.0.0.1 ");
  EXPECT_TRUE(absl::GetFlag(FLAGS_fc_legacy));
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_secret_file), "/run/secret");
  EXPECT_EQ(sources_.Get("fc_port"), FlagSource::kFile);
  EXPECT_EQ(sources_.Get("fc_password"), FlagSource::kDefault);
  EXPECT_EQ(FlagSourceName(sources_.Get("fc_port")), "file");
}

TEST_F(FlagConfigTest, FileErrorsNameFileLineAndSetting) {
  absl::Status s = ApplyFlagSettings("gw.conf", "fc_port = 1\nfc_prot = 2\n",
                                     options_, sources_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "gw.conf:2: unknown setting 'fc_prot' (see fc-test --help)");

  s = ApplyFlagSettings("gw.conf", "\nfc_port = eighty\n", options_, sources_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(s.message(), "gw.conf:2: bad value for --fc_port"))
      << s;

  s = ApplyFlagSettings("gw.conf", "fc_port\n", options_, sources_);
  EXPECT_EQ(s.message(), "gw.conf:1: expected `name = value`");

  s = ApplyFlagSettings("gw.conf", "fc_port = 1\nfc_port = 2\n", options_, sources_);
  EXPECT_EQ(s.message(), "gw.conf:2: setting 'fc_port' given twice");
}

TEST_F(FlagConfigTest, FlagsOfOtherFilesAndAbseilAreNotSettings) {
  options_.defining_file_suffix = "gateway/main.cc";
  EXPECT_FALSE(ApplyFlagSettings("f", "fc_port = 1\n", options_, sources_).ok());
  options_.defining_file_suffix = "flag_config_test.cc";
  EXPECT_FALSE(ApplyFlagSettings("f", "flagfile = /etc/x\n", options_, sources_).ok());
  EXPECT_FALSE(ApplyFlagSettings("f", "config = /etc/x\n", options_, sources_).ok());
}

TEST_F(FlagConfigTest, SecretValuedFlagsAreNeverSettings) {
  env_["SCEP_FC_FC_PASSWORD"] = "hunter2";
  absl::Status s = ApplyFlagEnvironment(options_, sources_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("SCEP_FC_FC_PASSWORD"), absl::string_view::npos);
  EXPECT_EQ(s.message().find("hunter2"), absl::string_view::npos);
  s = ApplyFlagSettings("f", "fc_password = hunter2\n", options_, sources_);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("hunter2"), absl::string_view::npos);
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_password), "");
  EXPECT_TRUE(IsSecretFlagName("admin_token"));
  EXPECT_TRUE(IsSecretFlagName("challenge"));
  EXPECT_FALSE(IsSecretFlagName("admin_token_file"));
  EXPECT_FALSE(IsSecretFlagName("token_label"));
  EXPECT_FALSE(IsSecretFlagName("http_port"));
}

// Every flag name the code base defines (grep ABSL_FLAG), classified: a
// duration or a label named after a token is a setting
// (SCEP_SIGNER_TOKEN_WAIT_SECONDS was refused as "carries a secret").
TEST_F(FlagConfigTest, SecretRuleAgainstEveryFlagOfTheCodeBase) {
  for (const char* secret : {"challenge", "server_challenge", "renew_with_challenge",
                             "fc_password", "admin_token", "pin", "so_pin", "ra_pin",
                             "redis_password", "hsm_passphrase", "notify_secret"}) {
    EXPECT_TRUE(IsSecretFlagName(secret)) << secret;
  }
  for (const char* setting :
       {"token_wait_seconds", "token_label", "ra_token_label", "admin_token_file",
        "challenge_file", "pin_file", "ra_pin_file", "redis_password_file",
        "redis_sentinel_password_file", "fc_secret_file", "keepalive_ms",
        "signer_keepalive_ms", "ca_key_label", "ra_key_file", "redis_tls_key_file",
        "tls_key", "signer_tls_key", "admin_tls_key", "redis_username",
        "redis_sentinel_username", "issuing_cas_dir", "http_port", "pending_ttl_seconds"}) {
    EXPECT_FALSE(IsSecretFlagName(setting)) << setting;
  }
  // "pin" only as a word.
  EXPECT_FALSE(IsSecretFlagName("keepalive_ping_ms"));
  EXPECT_FALSE(IsSecretFlagName("shipping_mode"));
}

TEST_F(FlagConfigTest, TokenWaitSecondsIsASetting) {
  env_["SCEP_FC_FC_TOKEN_WAIT_SECONDS"] = "5";
  ASSERT_TRUE(ApplyFlagEnvironment(options_, sources_).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_token_wait_seconds), 5);
  EXPECT_EQ(sources_.Get("fc_token_wait_seconds"), FlagSource::kEnv);
  ASSERT_TRUE(ApplyFlagSettings("f", "fc_token_wait_seconds = 7\n", options_, sources_).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_token_wait_seconds), 7);
}

TEST_F(FlagConfigTest, EnvironmentOverridesTheFile) {
  ASSERT_TRUE(ApplyFlagSettings("f", "fc_port = 9000\nfc_host = a\n", options_,
                                sources_)
                  .ok());
  env_["SCEP_FC_FC_PORT"] = "9001";
  env_["SCEP_FC_UNRELATED"] = "ignored";
  ASSERT_TRUE(ApplyFlagEnvironment(options_, sources_).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_port), 9001);
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_host), "a");
  EXPECT_EQ(sources_.Get("fc_port"), FlagSource::kEnv);
  EXPECT_EQ(sources_.Get("fc_host"), FlagSource::kFile);

  env_["SCEP_FC_FC_LEGACY"] = "maybe";
  absl::Status s = ApplyFlagEnvironment(options_, sources_);
  EXPECT_TRUE(absl::StartsWith(
      s.message(), "environment SCEP_FC_FC_LEGACY: bad value for --fc_legacy"))
      << s;
}

TEST_F(FlagConfigTest, ArgsNameTheConfigFileAndExplicitFlags) {
  EXPECT_EQ(ConfigPathFromArgs({"--fc_port=1", "--config=/etc/a"}, options_), "/etc/a");
  EXPECT_EQ(ConfigPathFromArgs({"-config", "/etc/b"}, options_), "/etc/b");
  EXPECT_EQ(ConfigPathFromArgs({"--", "--config=/etc/c"}, options_), "");
  env_["SCEP_FC_CONFIG"] = "/etc/env";
  EXPECT_EQ(ConfigPathFromArgs({}, options_), "/etc/env");
  EXPECT_EQ(ConfigPathFromArgs({"--config=/etc/a"}, options_), "/etc/a");
  EXPECT_EQ(FlagsNamedInArgs({"--fc_port=1", "-fc_host", "x", "--nofc_legacy",
                              "--", "--fc_secret_file=y"}),
            (std::vector<std::string>{"fc_port", "fc_host", "fc_legacy"}));
}

TEST_F(FlagConfigTest, LoadAppliesFileThenEnvironmentAndMarksCommandLine) {
  const std::string path = ::testing::TempDir() + "/flag_config_test.conf";
  {
    std::ofstream out(path);
    out << "fc_port = 9000\nfc_host = from-file\nfc_legacy = true\n";
  }
  env_["SCEP_FC_FC_HOST"] = "from-env";
  std::string a0 = "prog", a1 = "--config=" + path, a2 = "--fc_legacy=false";
  char* argv[] = {a0.data(), a1.data(), a2.data()};
  absl::StatusOr<FlagSources> sources = LoadFlagConfig(3, argv, options_);
  ASSERT_TRUE(sources.ok()) << sources.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_port), 9000);
  EXPECT_EQ(absl::GetFlag(FLAGS_fc_host), "from-env");
  EXPECT_EQ(sources->Get("fc_port"), FlagSource::kFile);
  EXPECT_EQ(sources->Get("fc_host"), FlagSource::kEnv);
  EXPECT_EQ(sources->Get("fc_legacy"), FlagSource::kCommandLine);
  std::remove(path.c_str());

  std::string missing = "--config=" + path + ".missing";
  char* argv2[] = {a0.data(), missing.data()};
  sources = LoadFlagConfig(2, argv2, options_);
  EXPECT_EQ(sources.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(sources.status().message().find(".missing"), absl::string_view::npos);
}

}  // namespace
}  // namespace scep::base
