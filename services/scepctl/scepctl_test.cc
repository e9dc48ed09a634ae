#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/crypto/ssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scep/admin/v1/admin_mock.grpc.pb.h"
#include "services/scepctl/cli_args.h"
#include "services/scepctl/commands.h"
#include "services/scepctl/mobileconfig.h"
#include "services/scepctl/token_transport.h"
#include "services/scepctl/usage.h"

namespace scep::scepctl {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Return;
using ::testing::SetArgPointee;

CliArgs Args(std::vector<std::string> argv) { return ParseCliArgs(argv).value(); }

TEST(CliArgsTest, FlagsAnywhereInBothForms) {
  CliArgs args = Args({"--server", "h:1", "challenge", "create", "--profile=p", "--json",
                       "--var", "CN=a", "--var", "O=b"});
  EXPECT_EQ(args.words, (std::vector<std::string>{"challenge", "create"}));
  EXPECT_EQ(args.GetOr("server", ""), "h:1");
  EXPECT_EQ(args.GetOr("profile", ""), "p");
  EXPECT_TRUE(args.Has("json"));
  EXPECT_EQ(args.GetAll("var"), (std::vector<std::string>{"CN=a", "O=b"}));
  EXPECT_FALSE(ParseCliArgs({"crl", "--out"}).ok());
}

TEST(CliArgsTest, Durations) {
  EXPECT_EQ(ParseDurationSeconds("90").value(), 90);
  EXPECT_EQ(ParseDurationSeconds("15m").value(), 900);
  EXPECT_EQ(ParseDurationSeconds("1h").value(), 3600);
  EXPECT_EQ(ParseDurationSeconds("7d").value(), 7 * 86400);
  EXPECT_FALSE(ParseDurationSeconds("1w").ok());
  EXPECT_FALSE(ParseDurationSeconds("-1s").ok());
  EXPECT_FALSE(ParseDurationSeconds("").ok());
}

admin::v1::Profile TestProfile() {
  admin::v1::Profile p;
  p.set_name("onetime");
  p.set_template_name("Wi-Fi <device> & co");
  auto* o = p.add_subject();
  o->set_type("O");
  o->set_value("Example");
  auto* cn = p.add_subject();
  cn->set_type("CN");
  cn->set_value("{CN}");
  p.set_ca_certificate("ca-der");
  p.set_min_rsa_bits(3072);
  return p;
}

TEST(MobileconfigTest, ScepPayloadFromTheProfile) {
  MobileconfigOptions options;
  options.url = "https://scep.example/scep/onetime?a=1&b=2";
  options.variables["CN"] = "%SerialNumber%";
  std::string plist = BuildMobileconfig(TestProfile(), options).value();
  EXPECT_TRUE(absl::StrContains(plist, "<string>com.apple.security.scep</string>"));
  EXPECT_TRUE(absl::StrContains(plist, "<string>Configuration</string>"));
  EXPECT_TRUE(absl::StrContains(plist, "?a=1&amp;b=2</string>"));
  EXPECT_TRUE(absl::StrContains(plist, "Wi-Fi &lt;device&gt; &amp; co"));
  EXPECT_TRUE(absl::StrContains(
      plist, "<array><array><string>CN</string><string>%SerialNumber%</string></array></array>"));
  EXPECT_TRUE(absl::StrContains(plist, "<key>Keysize</key><integer>3072</integer>"));
  EXPECT_TRUE(absl::StrContains(plist, "<key>Key Usage</key><integer>5</integer>"));
  // SHA-256("ca-der"), base64.
  EXPECT_TRUE(absl::StrContains(plist, "<key>CAFingerprint</key><data>"));
  EXPECT_FALSE(absl::StrContains(plist, "Challenge"));
  options.url.clear();
  EXPECT_FALSE(BuildMobileconfig(TestProfile(), options).ok());
}

TEST(MobileconfigTest, RootPayloadOnlyForACaUnderAnotherRoot) {
  MobileconfigOptions options;
  options.url = "https://scep.example/scep/onetime";
  std::string plain = BuildMobileconfig(TestProfile(), options).value();
  EXPECT_FALSE(absl::StrContains(plain, "com.apple.security.root"));
  admin::v1::Profile under_root = TestProfile();
  under_root.set_root_certificate("root-der");
  std::string plist = BuildMobileconfig(under_root, options).value();
  EXPECT_TRUE(absl::StrContains(plist, "<string>com.apple.security.root</string>"));
  // base64("root-der")
  EXPECT_TRUE(absl::StrContains(plist, "<key>PayloadContent</key><data>cm9vdC1kZXI=</data>"));
  EXPECT_TRUE(absl::StrContains(plist, "<string>com.example.scep.onetime.root</string>"));
}

TEST(MobileconfigTest, KeyUsageBits) {
  admin::v1::Profile p;
  EXPECT_EQ(AppleKeyUsage(p), 5);
  p.add_key_usage("digitalSignature");
  EXPECT_EQ(AppleKeyUsage(p), 1);
  p.clear_key_usage();
  p.add_key_usage("keyEncipherment");
  EXPECT_EQ(AppleKeyUsage(p), 4);
  MobileconfigOptions options;
  options.url = "http://x/scep";
  admin::v1::Profile unbound = TestProfile();
  unbound.clear_subject();
  EXPECT_TRUE(absl::StrContains(BuildMobileconfig(unbound, options).value(),
                                "<string>CN</string><string>$CN</string>"));
}

class CommandTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> argv) {
    out_.str("");
    err_.str("");
    return RunCommand(Args(argv), stub_, call_, out_, err_);
  }
  admin::v1::MockAdminStub stub_;
  CallOptions call_{"token", 5};
  std::ostringstream out_, err_;
};

TEST_F(CommandTest, ChallengeCreatePrintsTheChallengeAlone) {
  admin::v1::CreateChallengeResponse response;
  response.set_challenge("abc_DEF-123");
  EXPECT_CALL(stub_, CreateChallenge(_, _, _))
      .WillOnce([&](grpc::ClientContext*, const admin::v1::CreateChallengeRequest& r,
                    admin::v1::CreateChallengeResponse* out) {
        EXPECT_EQ(r.profile(), "onetime");
        EXPECT_EQ(r.subject(), "CN=x");
        EXPECT_EQ(r.ttl_seconds(), 1);
        *out = response;
        return grpc::Status::OK;
      });
  EXPECT_EQ(Run({"challenge", "create", "--profile", "onetime", "--subject", "CN=x",
                 "--ttl", "1s"}),
            0);
  EXPECT_EQ(out_.str(), "abc_DEF-123\n");
}

// mobileconfig takes its challenge from a file, stdin or SCEP_CHALLENGE,
// out of ps and shell history; --challenge keeps working, with a warning.
class MobileconfigCommandTest : public CommandTest {
 protected:
  MobileconfigCommandTest() {
    unsetenv("SCEP_CHALLENGE");
    ON_CALL(stub_, GetProfile(_, _, _))
        .WillByDefault(DoAll(SetArgPointee<2>(TestProfile()), Return(grpc::Status::OK)));
    EXPECT_CALL(stub_, GetProfile(_, _, _)).Times(::testing::AnyNumber());
  }
  ~MobileconfigCommandTest() override { unsetenv("SCEP_CHALLENGE"); }

  int RunMobileconfig(std::vector<std::string> extra) {
    std::vector<std::string> argv = {"mobileconfig", "--profile", "onetime", "--url",
                                     "http://scep.example/scep/onetime"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Run(argv);
  }
  static constexpr char kChallengeXml[] = "<key>Challenge</key><string>Fleet-Secret</string>";
};

TEST_F(MobileconfigCommandTest, ChallengeFromAFileStdinOrTheEnvironment) {
  const std::string path = ::testing::TempDir() + "/scepctl_test_challenge";
  std::ofstream(path) << "Fleet-Secret\n";
  EXPECT_EQ(RunMobileconfig({"--challenge-file", path}), 0) << err_.str();
  EXPECT_TRUE(absl::StrContains(out_.str(), kChallengeXml)) << out_.str();
  EXPECT_EQ(err_.str(), "");

  std::istringstream stdin_text("Fleet-Secret\n");
  std::streambuf* saved = std::cin.rdbuf(stdin_text.rdbuf());
  const int from_stdin = RunMobileconfig({"--challenge-file", "-"});
  std::cin.rdbuf(saved);
  EXPECT_EQ(from_stdin, 0) << err_.str();
  EXPECT_TRUE(absl::StrContains(out_.str(), kChallengeXml));

  setenv("SCEP_CHALLENGE", "Fleet-Secret", 1);
  EXPECT_EQ(RunMobileconfig({}), 0) << err_.str();
  EXPECT_TRUE(absl::StrContains(out_.str(), kChallengeXml));
  EXPECT_EQ(err_.str(), "");

  EXPECT_EQ(RunMobileconfig({"--challenge-file", "/nonexistent/challenge"}), 2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "/nonexistent/challenge"));
  EXPECT_EQ(RunMobileconfig({"--challenge-file", path, "--challenge", "x"}), 2);
  std::remove(path.c_str());
}

TEST_F(MobileconfigCommandTest, ChallengeOnTheCommandLineWorksButWarns) {
  EXPECT_EQ(RunMobileconfig({"--challenge", "Fleet-Secret"}), 0);
  EXPECT_TRUE(absl::StrContains(out_.str(), kChallengeXml));
  EXPECT_TRUE(absl::StrContains(err_.str(), "warning: --challenge is visible to other users"))
      << err_.str();
  EXPECT_FALSE(absl::StrContains(err_.str(), "Fleet-Secret"));
}

// The file may carry the challenge: owner-only whatever the umask, also
// when it existed with a wider mode.
TEST_F(MobileconfigCommandTest, OutFileIsOwnerOnly) {
  const std::string out = ::testing::TempDir() + "/scepctl_test.mobileconfig";
  std::ofstream(out) << "old";
  ASSERT_EQ(chmod(out.c_str(), 0644), 0);
  setenv("SCEP_CHALLENGE", "Fleet-Secret", 1);
  EXPECT_EQ(RunMobileconfig({"--out", out}), 0) << err_.str();
  struct stat st = {};
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::ifstream in(out);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StrContains(written, kChallengeXml));
  EXPECT_FALSE(absl::StartsWith(written, "old"));
  std::remove(out.c_str());

  const mode_t umask_before = umask(0);  // a fresh file too, under a permissive umask
  EXPECT_EQ(RunMobileconfig({"--out", out}), 0) << err_.str();
  umask(umask_before);
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  std::remove(out.c_str());
}

TEST_F(CommandTest, ServerErrorsExitOneWithTheCode) {
  EXPECT_CALL(stub_, ListRequests(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token")));
  EXPECT_EQ(Run({"requests", "list"}), 1);
  EXPECT_TRUE(absl::StrContains(err_.str(), "UNAUTHENTICATED: no token")) << err_.str();
}

constexpr const char* kVerbs[] = {"challenge create", "requests list", "requests approve",
                                  "requests reject", "certs list", "certs show",
                                  "certs revoke", "certs restore", "crl", "crl restore",
                                  "enroll", "profiles list",
                                  "profiles show", "mobileconfig"};

std::vector<std::string> Words(const std::string& verb) {
  std::vector<std::string> argv;
  std::istringstream words(verb);
  for (std::string w; words >> w;) argv.push_back(w);
  return argv;
}

TEST_F(CommandTest, HelpOnEveryVerbAndUsageErrors) {
  for (const char* verb : kVerbs) {
    std::vector<std::string> argv = Words(verb);
    argv.push_back("--help");
    EXPECT_EQ(Run(argv), 0) << verb;
    EXPECT_TRUE(absl::StrContains(out_.str(), std::string("usage: scepctl ") + verb)) << verb;
  }
  EXPECT_EQ(Run({"requests", "approve", "--profile", "p"}), 2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "--tid is required"));
  EXPECT_EQ(Run({"bogus"}), 2);
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "0a", "--reason", "nonsense"}), 2);
}

// A misspelt or misplaced flag stops the command before any call: ignored,
// --subjet minted an unbound challenge and --reasons revoked with reason 0.
TEST_F(CommandTest, FlagsTheVerbDoesNotTakeAreUsageErrors) {
  EXPECT_CALL(stub_, CreateChallenge(_, _, _)).Times(0);
  EXPECT_CALL(stub_, RevokeCertificate(_, _, _)).Times(0);
  EXPECT_CALL(stub_, GetCertificate(_, _, _)).Times(0);
  EXPECT_EQ(Run({"challenge", "create", "--profile", "onetime", "--subjet", "CN=x"}), 2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "challenge create: unknown flag --subjet\n"))
      << err_.str();
  EXPECT_TRUE(absl::StrContains(err_.str(), "takes --profile, --subject, --ttl and the global"))
      << err_.str();
  EXPECT_TRUE(absl::StrContains(err_.str(), "usage: scepctl challenge create")) << err_.str();
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "0a", "--reasons", "keyCompromise"}), 2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "unknown flag --reasons")) << err_.str();
  // Valid elsewhere is not enough: certs show takes no --reason.
  EXPECT_EQ(Run({"certs", "show", "--serial", "0a", "--reason", "1"}), 2);
  EXPECT_EQ(Run({"profiles", "list", "--profile", "p"}), 2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "takes no flags of its own")) << err_.str();
  // The name only: a value may be a secret.
  EXPECT_EQ(Run({"mobileconfig", "--profile", "p", "--url", "u", "--challange=s3cret-Value"}),
            2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "unknown flag --challange")) << err_.str();
  EXPECT_FALSE(absl::StrContains(err_.str(), "s3cret-Value")) << err_.str();
  // --help still prints the usage.
  EXPECT_EQ(Run({"challenge", "create", "--subjet", "x", "--help"}), 0);
}

// Words after the command were ignored: an unquoted subject minted a
// challenge bound to its first word only.
TEST_F(CommandTest, StrayWordsAfterTheCommandAreUsageErrors) {
  EXPECT_CALL(stub_, CreateChallenge(_, _, _)).Times(0);
  EXPECT_CALL(stub_, ApproveRequest(_, _, _)).Times(0);
  EXPECT_EQ(Run({"challenge", "create", "--profile", "onetime", "--subject", "CN=laptop-7,",
                 "O=Fleet"}),
            2);
  EXPECT_TRUE(absl::StrContains(err_.str(), "challenge create: 1 unexpected argument(s)"))
      << err_.str();
  EXPECT_EQ(Run({"requests", "approve", "--profile", "approval", "tid-7"}), 2);
  EXPECT_EQ(Run({"crl", "restore", "--in", "x.crl", "extra"}), 2);
  // Never echoed: it may be a piece of a secret.
  EXPECT_EQ(Run({"mobileconfig", "--profile", "p", "--url", "u", "--challenge", "pass",
                 "w0rd-Tail"}),
            2);
  EXPECT_FALSE(absl::StrContains(err_.str(), "w0rd-Tail")) << err_.str();
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandTest, GlobalFlagsGoWithEveryVerb) {
  EXPECT_CALL(stub_, ListProfiles(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"--server", "h:1", "--token-file", "/t", "--tls-ca", "c", "--tls-cert", "c",
                 "--tls-key", "k", "--tls-server-name", "n", "--timeout", "5s", "profiles",
                 "list", "--json"}),
            0)
      << err_.str();
}

// Multi-word flags are hyphenated; enroll's --request_id, as usage.cc
// spelt it, still works.
TEST(CliArgsTest, RequestIdUnderBothSpellings) {
  EXPECT_EQ(Args({"enroll", "--request-id", "a"}).GetOr("request-id", ""), "a");
  EXPECT_EQ(Args({"enroll", "--request_id", "b"}).GetOr("request-id", ""), "b");
  EXPECT_EQ(Args({"enroll", "--request_id=c"}).GetOr("request-id", ""), "c");
}

TEST_F(CommandTest, EnrollSendsTheRequestId) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  codec::CsrSpec spec;
  spec.common_name = "device-1";
  const std::string csr = ::testing::TempDir() + "/enroll.csr";
  std::ofstream(csr, std::ios::binary) << codec::BuildCsr(key.get(), spec).value();
  for (const char* flag : {"--request-id", "--request_id"}) {
    admin::v1::EnrollRequest sent;
    EXPECT_CALL(stub_, Enroll(_, _, _))
        .WillOnce(DoAll(::testing::SaveArg<1>(&sent), Return(grpc::Status::OK)));
    EXPECT_EQ(Run({"enroll", "--profile", "p", "--csr", csr, flag, "rid-1"}), 0) << err_.str();
    EXPECT_EQ(sent.request_id(), "rid-1") << flag;
  }
}

// Serials as `openssl x509 -text` (colons) or a viewer (spaces) shows them.
TEST_F(CommandTest, SerialsWithColonsOrSpaces) {
  admin::v1::GetCertificateRequest shown;
  EXPECT_CALL(stub_, GetCertificate(_, _, _))
      .WillOnce(DoAll(::testing::SaveArg<1>(&shown), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "show", "--serial", "4A:BC:0D"}), 0) << err_.str();
  EXPECT_EQ(shown.serial_hex(), "4abc0d");
  admin::v1::RevokeCertificateRequest revoked;
  EXPECT_CALL(stub_, RevokeCertificate(_, _, _))
      .WillOnce(DoAll(::testing::SaveArg<1>(&revoked), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "4a bc 0d", "--reason", "superseded"}), 0)
      << err_.str();
  EXPECT_EQ(revoked.serial_hex(), "4abc0d");
  EXPECT_EQ(revoked.reason(), 4);
}

// A certificate revoked before: exit 0, and the revocation as it stands.
TEST_F(CommandTest, RevokingARevokedCertificateSaysHowItStands) {
  admin::v1::RevokeCertificateResponse response;
  response.set_serial_hex("0a");
  response.set_already_revoked(true);
  response.set_revocation_reason(4);
  response.set_revoked_unix(1'800'000'000);  // 2027-01-15T08:00:00Z
  EXPECT_CALL(stub_, RevokeCertificate(_, _, _))
      .WillRepeatedly(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "0a", "--reason", "superseded"}), 0);
  EXPECT_EQ(out_.str(), "already revoked 0a at 2027-01-15T08:00:00Z (reason 4)\n");
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "0a"}), 0);
  EXPECT_EQ(out_.str(),
            "already revoked 0a at 2027-01-15T08:00:00Z (reason 4), kept: only keyCompromise "
            "replaces a reason\n");
  response.set_reason_changed(true);
  response.set_revocation_reason(1);
  EXPECT_CALL(stub_, RevokeCertificate(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "revoke", "--serial", "0a", "--reason", "keyCompromise"}), 0);
  EXPECT_EQ(out_.str(),
            "already revoked 0a at 2027-01-15T08:00:00Z; reason now 1 (keyCompromise)\n");
}

// --tid as `requests list` prints it, or as `requests list --json` does
// (proto3 JSON: bytes in base64).
TEST_F(CommandTest, TransactionIdAsListedOrInBase64) {
  const std::pair<std::string, std::string> kForms[] = {
      {"tid-1", "tid-1"},
      {"hex:00ff41", std::string("\x00\xff" "A", 3)},
      {"b64:dGlkLTE=", "tid-1"},
      {"b64:AP9B", std::string("\x00\xff" "A", 3)},
      {"b64:_-8", "\xff\xef"}};  // URL-safe, unpadded
  for (const auto& [given, bytes] : kForms) {
    admin::v1::ApproveRequestRequest sent;
    EXPECT_CALL(stub_, ApproveRequest(_, _, _))
        .WillOnce(DoAll(::testing::SaveArg<1>(&sent), Return(grpc::Status::OK)));
    EXPECT_EQ(Run({"requests", "approve", "--profile", "approval", "--tid", given}), 0)
        << given << ": " << err_.str();
    EXPECT_EQ(sent.transaction_id(), bytes) << given;
  }
  admin::v1::RejectRequestRequest rejected;
  EXPECT_CALL(stub_, RejectRequest(_, _, _))
      .WillOnce(DoAll(::testing::SaveArg<1>(&rejected), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"requests", "reject", "--profile", "approval", "--tid", "b64:dGlkLTE="}), 0);
  EXPECT_EQ(rejected.transaction_id(), "tid-1");
  for (const char* bad : {"b64:", "b64:@@", "hex:zz", "hex:abc"}) {
    EXPECT_EQ(Run({"requests", "approve", "--profile", "p", "--tid", bad}), 2) << bad;
  }
  // An ID that itself begins like one of the forms is listed as hex, so
  // what is listed is what --tid takes back.
  admin::v1::ListRequestsResponse listed;
  listed.add_requests()->set_transaction_id("b64:x");
  EXPECT_CALL(stub_, ListRequests(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(listed), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"requests", "list"}), 0);
  EXPECT_TRUE(absl::StrContains(out_.str(), "\thex:6236343a78\t")) << out_.str();
}

// usage.cc names every flag of the verb table (commands.cc), and names no
// flag scepctl would refuse.
TEST(CommandTableTest, UsageNamesEveryFlagAndNoOther) {
  // Flags of the services a usage text refers to, and a former spelling.
  const std::set<std::string> kNotScepctlFlags = {"notice_max_age_hours", "audit_log",
                                                  "audit_certificates", "request_id"};
  const std::vector<std::string> global = VerbFlags("");
  std::vector<std::string> verbs(std::begin(kVerbs), std::end(kVerbs));
  verbs.insert(verbs.end(), {"notices list", "notices requeue", ""});
  for (const std::string& verb : verbs) {
    const std::string usage = Usage(verb);
    std::set<std::string> named;
    for (size_t at = usage.find("--"); at != std::string::npos; at = usage.find("--", at + 2)) {
      size_t end = at + 2;
      while (end < usage.size() && (absl::ascii_isalnum(usage[end]) || usage[end] == '-' ||
                                    usage[end] == '_')) {
        ++end;
      }
      const std::string name = usage.substr(at + 2, end - at - 2);
      if (!name.empty() && kNotScepctlFlags.count(name) == 0) named.insert(name);
    }
    std::set<std::string> taken = {"help"};
    for (const std::string& flag : VerbFlags(verb)) {
      EXPECT_EQ(named.count(flag), 1u) << "'" << verb << "' does not document --" << flag;
      taken.insert(flag);
    }
    taken.insert(global.begin(), global.end());
    if (verb.empty()) {  // the overview mentions flags of the commands
      for (const char* each : kVerbs) {
        for (const std::string& flag : VerbFlags(each)) taken.insert(flag);
      }
    }
    for (const std::string& name : named) {
      EXPECT_EQ(taken.count(name), 1u) << "'" << verb << "' documents --" << name;
    }
  }
}

// The verb table (commands.cc) is kept apart from the usage texts: every
// documented verb must reach its handler, which either calls the server
// (exit 0 here) or reports missing flags (exit 2); a verb missing from
// the table throws.
TEST(CommandTableTest, EveryDocumentedVerbRuns) {
  ::testing::NiceMock<admin::v1::MockAdminStub> stub;
  for (const char* verb : kVerbs) {
    std::ostringstream out, err;
    const int status = RunCommand(Args(Words(verb)), stub, CallOptions{}, out, err);
    EXPECT_TRUE(status == 0 || status == 2) << verb << ": " << status;
  }
}

// certs restore: what the trail holds goes to the server, whatever wraps
// the JSON; what the server refuses is named by its line in the file.
TEST_F(CommandTest, CertsRestoreSendsTheTrailAndNamesRefusedLines) {
  const std::string path = ::testing::TempDir() + "/issuance-audit.log";
  {
    std::ofstream trail(path);
    trail << R"({"event":"listening","port":9090})" "\n"
          << R"(2026-11-28T05:00:00.1Z stderr F {"event":"certificate_issued","serial":"0a",)"
             R"("profile":"wifi","certificate":"QQ=="})" "\n"
          << R"({"event":"certificate_issued","serial":"0c"})" "\n"
          << R"({"event":"certificate_issued","seri)" "\n"
          << R"({"event":"certificate_issued","serial":"0b","certificate":"Qg=="})" "\n";
  }
  admin::v1::RestoreCertificatesRequest sent;
  admin::v1::RestoreCertificatesResponse answer;
  answer.set_restored(1);
  answer.add_refused("certificate 1 (serial 0b): not issued by the CA of profile kiosk");
  EXPECT_CALL(stub_, RestoreCertificates(_, _, _))
      .WillOnce(DoAll(::testing::SaveArg<1>(&sent), SetArgPointee<2>(answer),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "restore", "--audit", path, "--profile", "kiosk"}), 1);
  ASSERT_EQ(sent.certificates_size(), 2);
  EXPECT_EQ(sent.certificates(0).certificate(), "A");
  EXPECT_EQ(sent.certificates(0).profile(), "wifi");
  EXPECT_EQ(sent.certificates(1).certificate(), "B");
  EXPECT_EQ(sent.certificates(1).profile(), "kiosk");  // the line names none
  EXPECT_TRUE(absl::StrContains(
      err_.str(), path + ":5 (serial 0b): not issued by the CA of profile kiosk"))
      << err_.str();
  EXPECT_TRUE(absl::StrContains(err_.str(), "1 certificate_issued lines are not JSON"));
  EXPECT_TRUE(absl::StrContains(err_.str(), "1 of 3 certificate_issued lines carry no"));
  EXPECT_TRUE(absl::StrContains(out_.str(), "restored 1,")) << out_.str();
  EXPECT_EQ(Run({"certs", "restore", "--audit", path + ".missing"}), 2);

  // One --audit per trail (each signer pod's, each rotated file): each
  // file's certificates go in their own calls.
  const std::string rotated = path + ".1";
  {
    std::ofstream trail(rotated);
    trail << R"({"event":"certificate_issued","serial":"0d","certificate":"RA=="})" "\n";
  }
  std::vector<admin::v1::RestoreCertificatesRequest> calls;
  EXPECT_CALL(stub_, RestoreCertificates(_, _, _))
      .Times(2)
      .WillRepeatedly([&](grpc::ClientContext*, const admin::v1::RestoreCertificatesRequest& r,
                          admin::v1::RestoreCertificatesResponse* out) {
        calls.push_back(r);
        out->set_restored(r.certificates_size());
        return grpc::Status::OK;
      });
  EXPECT_EQ(Run({"certs", "restore", "--audit", path, "--audit", rotated}), 0) << err_.str();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].certificates_size(), 2);
  ASSERT_EQ(calls[1].certificates_size(), 1);
  EXPECT_EQ(calls[1].certificates(0).certificate(), "D");
  EXPECT_TRUE(absl::StrContains(out_.str(), "restored 3,")) << out_.str();
}

TEST_F(CommandTest, JsonOutputParsesAsOneObject) {
  admin::v1::ListRequestsResponse response;
  auto* r = response.add_requests();
  r->set_profile("approval");
  r->set_transaction_id("tid-1");
  r->set_status(admin::v1::REQUEST_STATUS_REQUESTED);
  EXPECT_CALL(stub_, ListRequests(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(response), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"requests", "list", "--json", "--status", "requested"}), 0);
  EXPECT_TRUE(absl::StrContains(out_.str(), R"("status":"REQUEST_STATUS_REQUESTED")"))
      << out_.str();
}

// --json is for scripts: every field is there whatever its value (a
// revocation reason 0, unspecified, an empty list), so a script reads
// `obj["requests"]` without guessing; 64-bit integers are JSON strings, as
// proto3's JSON mapping writes them (usage.cc says so).
TEST_F(CommandTest, JsonOutputHasEveryFieldAndInt64AsStrings) {
  EXPECT_CALL(stub_, ListRequests(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(Run({"requests", "list", "--json"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "{\"requests\":[],\"nextPageToken\":\"\"}\n");

  admin::v1::Certificate cert;
  cert.set_serial_hex("0a");
  cert.set_status(admin::v1::CERTIFICATE_STATUS_REVOKED);
  cert.set_revocation_reason(0);  // unspecified
  cert.set_revoked_unix(1'800'000'000);
  cert.set_not_after_unix(1'800'000'001);
  EXPECT_CALL(stub_, GetCertificate(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(cert), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"certs", "show", "--serial", "0a", "--json"}), 0) << err_.str();
  google::protobuf::Struct shown;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &shown).ok())
      << out_.str();
  const auto& fields = shown.fields();
  ASSERT_TRUE(fields.contains("revocationReason")) << out_.str();
  EXPECT_EQ(fields.at("revocationReason").number_value(), 0);
  EXPECT_EQ(fields.at("status").string_value(), "CERTIFICATE_STATUS_REVOKED");
  EXPECT_EQ(fields.at("revokedUnix").string_value(), "1800000000");
  EXPECT_EQ(fields.at("notBeforeUnix").string_value(), "0");
  EXPECT_EQ(fields.at("issuingCa").string_value(), "");

  admin::v1::CreateChallengeResponse challenge;
  challenge.set_challenge("abc");
  challenge.set_expires_unix(1'800'000'000);
  EXPECT_CALL(stub_, CreateChallenge(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(challenge), Return(grpc::Status::OK)));
  EXPECT_EQ(Run({"challenge", "create", "--profile", "onetime", "--json"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "{\"challenge\":\"abc\",\"expiresUnix\":\"1800000000\"}\n");
}

TEST(TokenTransportTest, LoopbackTargets) {
  for (const char* local :
       {"127.0.0.1:9443", "127.8.9.10:1", "localhost:9443", "LOCALHOST", "[::1]:9443", "::1",
        "[::ffff:127.0.0.1]:9443", "dns:///127.0.0.1:9443", "dns:///localhost:9443",
        "dns://8.8.8.8/localhost:9443", "ipv4:127.0.0.1:9443,127.0.0.2:9443",
        "ipv6:[::1]:9443", "unix:/run/scep/admin.sock"}) {
    EXPECT_TRUE(IsLoopbackTarget(local)) << local;
  }
  for (const char* remote :
       {"10.0.0.5:9443", "scep-gateway-admin:9443", "admin.example.com:9443", "[::2]:9443",
        "128.0.0.1:9443", "localhost.example.com:9443", "127.0.0.1.nip.io:9443",
        "dns:///scep-gateway-admin:9443", "dns://127.0.0.1/remote:9443",
        "ipv4:127.0.0.1:9443,10.0.0.5:9443", "", "[::1"}) {
    EXPECT_FALSE(IsLoopbackTarget(remote)) << remote;
  }
}

// A bearer token goes in clear only to this machine or when asked for
// (--insecure): otherwise the command stops before connecting (before,
// any --server without --tls-ca got the token in plaintext).
TEST(TokenTransportTest, ATokenInClearOnlyToLoopbackOrWithInsecure) {
  const std::string remote = "scep-gateway-admin.pki:9443";
  absl::Status refused = CheckTokenTransport(Args({"profiles", "list"}), remote, true);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.message(), remote)) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "--tls-ca")) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "--insecure")) << refused;
  EXPECT_TRUE(CheckTokenTransport(Args({"--tls-ca", "ca.pem"}), remote, true).ok());
  EXPECT_TRUE(CheckTokenTransport(Args({"--insecure", "profiles", "list"}), remote, true).ok());
  EXPECT_TRUE(CheckTokenTransport(Args({}), "127.0.0.1:9443", true).ok());
  EXPECT_TRUE(CheckTokenTransport(Args({}), remote, false).ok());  // mutual TLS or none
  // A global switch: no verb refuses it, and it takes no value.
  CliArgs args = Args({"--insecure", "certs", "list"});
  EXPECT_EQ(args.words, (std::vector<std::string>{"certs", "list"}));
  std::ostringstream out, err;
  EXPECT_EQ(HandleUsage(args, out, err), std::nullopt) << err.str();
}

#ifdef SCEPCTL_BINARY
// The binary itself: exit status 2 and the reason, never the token,
// before any connection is tried (192.0.2.1 is TEST-NET-1: nothing
// answers there).
TEST(TokenTransportTest, ScepctlRefusesBeforeConnecting) {
  const std::string err_path = ::testing::TempDir() + "/scepctl-insecure.err";
  const std::string command = std::string("SCEP_ADMIN_TOKEN=Do-Not-Leak-This-Token ") +
                              SCEPCTL_BINARY +
                              " --server 192.0.2.1:9443 --timeout 1s profiles list 2>" +
                              err_path;
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(err_path);
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::StrContains(err, "refusing to send the bearer token in clear to "
                                     "192.0.2.1:9443")) << err;
  EXPECT_FALSE(absl::StrContains(err, "Do-Not-Leak")) << err;
}
#endif  // SCEPCTL_BINARY

}  // namespace
}  // namespace scep::scepctl
