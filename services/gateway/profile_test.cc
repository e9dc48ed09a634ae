// Profiles file validation and profile policy (subject template, SAN
// patterns, key checks, key usage) through ProfileIssuer.

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/test_pki.h"
#include "common/redis/memory_certificate_index.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/profile_config.h"
#include "services/gateway/profile_issuer.h"

namespace scep::gateway {
namespace {

SecretSources FakeSecrets() {
  SecretSources s;
  s.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "WIFI_SECRET") return std::string("Wifi-Secret");
    if (name == "NOTICE_KEY") return std::string("a-notice-signing-key-of-32-bytes");
    return std::nullopt;
  };
  s.file = [](const std::string& path) -> absl::StatusOr<std::string> {
    if (path == "/blank") return std::string(" \n");  // whitespace only: no secret
    return absl::NotFoundError("no files in this test");
  };
  // The real TLS loader (the system trust store for an empty ca_file).
  s.tls = [](const TlsClientFiles& files, absl::string_view setting, const std::string&) {
    return TlsClientContext::New(files, setting);
  };
  return s;
}

absl::StatusOr<std::vector<Profile>> Parse(const std::string& json) {
  return ParseProfiles(json, "profiles.json", FakeSecrets());
}

TEST(ProfileConfigTest, ParsesEveryMode) {
  auto profiles = Parse(R"({"profiles": [
    {"name": "wifi", "template_name": "Corporate Wi-Fi",
     "subject": [{"type": "CN", "value": "{CN}"}, {"type": "O", "value": "Example"}],
     "allowed_rdns": ["CN"], "san_policy": [{"type": "dns", "patterns": ["*.devices.example"]}],
     "validity_days": 90, "digest": "sha384", "key_usage": ["digitalSignature"],
     "extended_key_usage": ["clientAuth", "serverAuth"], "min_rsa_bits": 3072,
     "key_types": ["rsa"], "challenge": {"mode": "static", "secret_env": "WIFI_SECRET"},
     "renewal_window_days": 30,
     "crl_distribution_points": ["http://pki.example.com/crl/default.crl"],
     "ca_issuers": ["https://pki.example.com/ca/default.crt"]},
    {"name": "onetime", "challenge": {"mode": "one-time"}},
    {"name": "mdm", "certificate_type": "user", "approval": "manual",
     "renewal_from_profiles": ["onetime"],
     "challenge": {"mode": "external", "verifier_url": "http://127.0.0.1:9/verify",
                   "verifier_timeout_ms": 1500}}]})");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  ASSERT_EQ(profiles->size(), 3u);
  const Profile& wifi = (*profiles)[0];
  EXPECT_EQ(wifi.challenge, "Wifi-Secret");
  EXPECT_EQ(wifi.validity_days, 90);
  EXPECT_EQ(wifi.digest, "sha384");
  EXPECT_EQ(wifi.min_rsa_bits, 3072);
  EXPECT_EQ(wifi.renewal_window, absl::Hours(24 * 30));
  EXPECT_EQ(wifi.subject.size(), 2u);
  EXPECT_EQ(wifi.crl_distribution_points,
            std::vector<std::string>{"http://pki.example.com/crl/default.crl"});
  EXPECT_EQ(wifi.ca_issuers, std::vector<std::string>{"https://pki.example.com/ca/default.crt"});
  EXPECT_TRUE((*profiles)[1].crl_distribution_points.empty());
  EXPECT_EQ((*profiles)[1].challenge_mode, Profile::ChallengeMode::kOneTime);
  const Profile& mdm = (*profiles)[2];
  EXPECT_EQ(mdm.challenge_mode, Profile::ChallengeMode::kExternal);
  EXPECT_EQ(mdm.approval, Profile::Approval::kManual);
  EXPECT_EQ(mdm.type, Profile::CertificateType::kUser);
  EXPECT_EQ(mdm.verifier_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(mdm.renewal_from_profiles, std::vector<std::string>{"onetime"});
  EXPECT_TRUE(wifi.renewal_from_profiles.empty());
}

// Issuance notices: both events by default; the CSR (its challengePassword
// included) only where the challenge is not the profile's shared secret,
// unless asked for.
TEST(ProfileConfigTest, NotifyDefaultsAndTheCsrByChallengeMode) {
  auto profiles = Parse(R"({"profiles": [
    {"name": "plain", "challenge": {"mode": "static", "secret_env": "WIFI_SECRET"}},
    {"name": "static", "challenge": {"mode": "static", "secret_env": "WIFI_SECRET"},
     "notify": {"url": "http://mdm.pki.svc:8080/notices"}},
    {"name": "static-csr", "challenge": {"mode": "static", "secret_env": "WIFI_SECRET"},
     "notify": {"url": "http://mdm/n", "csr": "include", "events": ["failed"],
                "timeout_ms": 750}},
    {"name": "intune", "challenge": {"mode": "external", "verifier_url": "http://v/verify"},
     "notify": {"url": "http://mdm/n", "events": ["issued"]}},
    {"name": "quiet", "challenge": {"mode": "one-time"},
     "notify": {"url": "http://mdm/n", "csr": "omit", "secret_env": "NOTICE_KEY"}}]})");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  const Profile& plain = (*profiles)[0];
  EXPECT_TRUE(plain.notice_url.empty());
  EXPECT_FALSE(plain.notice_issued || plain.notice_failed);
  const Profile& shared = (*profiles)[1];
  EXPECT_EQ(shared.notice_url, "http://mdm.pki.svc:8080/notices");
  EXPECT_TRUE(shared.notice_issued && shared.notice_failed);
  EXPECT_EQ(shared.notice_timeout, absl::Seconds(5));
  EXPECT_FALSE(shared.notice_csr);
  const Profile& asked = (*profiles)[2];
  EXPECT_TRUE(asked.notice_csr);
  EXPECT_FALSE(asked.notice_issued);
  EXPECT_TRUE(asked.notice_failed);
  EXPECT_EQ(asked.notice_timeout, absl::Milliseconds(750));
  const Profile& intune = (*profiles)[3];
  EXPECT_TRUE(intune.notice_csr);
  EXPECT_TRUE(intune.notice_issued);
  EXPECT_FALSE(intune.notice_failed);
  EXPECT_FALSE((*profiles)[4].notice_csr);
  EXPECT_EQ((*profiles)[4].notice_secret, "a-notice-signing-key-of-32-bytes");
  EXPECT_TRUE(shared.notice_secret.empty());
  EXPECT_EQ(shared.notice_tls, nullptr);  // http://: no TLS
  EXPECT_EQ(intune.verifier_tls, nullptr);
}

// The real sources take secret_env values out of the environment: the
// bytes overwritten where they were (/proc/PID/environ shows that block),
// the variable removed; profiles sharing a variable all get its value.
TEST(ProfileConfigTest, RealSecretEnvIsTakenOutOfTheEnvironment) {
  setenv("SCEP_TEST_WIFI_SECRET", "Shared-Wifi-Secret", 1);
  setenv("SCEP_TEST_NOTICE_KEY", "a-notice-signing-key-of-32-bytes", 1);
  const char* challenge_bytes = std::getenv("SCEP_TEST_WIFI_SECRET");
  const char* notice_bytes = std::getenv("SCEP_TEST_NOTICE_KEY");
  auto profiles = ParseProfiles(R"({"profiles": [
    {"name": "a", "challenge": {"mode": "static", "secret_env": "SCEP_TEST_WIFI_SECRET"}},
    {"name": "b", "challenge": {"mode": "static", "secret_env": "SCEP_TEST_WIFI_SECRET"},
     "notify": {"url": "http://mdm/n", "secret_env": "SCEP_TEST_NOTICE_KEY"}}]})",
                                "profiles.json", RealSecretSources());
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ((*profiles)[0].challenge, "Shared-Wifi-Secret");
  EXPECT_EQ((*profiles)[1].challenge, "Shared-Wifi-Secret");
  EXPECT_EQ((*profiles)[1].notice_secret, "a-notice-signing-key-of-32-bytes");
  EXPECT_EQ(std::getenv("SCEP_TEST_WIFI_SECRET"), nullptr);
  EXPECT_EQ(std::getenv("SCEP_TEST_NOTICE_KEY"), nullptr);
  // glibc never frees setenv's copies: still readable, no longer the secret.
  EXPECT_EQ(std::string(challenge_bytes, 18), std::string(18, '\0'));
  EXPECT_EQ(std::string(notice_bytes, 32), std::string(32, '\0'));
}

// https:// hooks get a TLS context at load, each of its own; http:// none.
TEST(ProfileConfigTest, HttpsHooksGetTheirTlsAtLoad) {
  auto profiles = Parse(R"({"profiles": [
    {"name": "intune", "challenge": {"mode": "external", "verifier_url": "https://connector.example/verify"},
     "notify": {"url": "https://connector.example:8443/notices", "tls": {"ca_file": ""}}},
    {"name": "plain", "challenge": {"mode": "external", "verifier_url": "http://v/verify"}}]})");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  const Profile& intune = (*profiles)[0];
  EXPECT_EQ(intune.verifier_url, "https://connector.example/verify");
  ASSERT_NE(intune.verifier_tls, nullptr);
  ASSERT_NE(intune.notice_tls, nullptr);
  EXPECT_NE(intune.verifier_tls, intune.notice_tls);
  EXPECT_NE(intune.notice_tls->Get(), nullptr);
  EXPECT_EQ((*profiles)[1].verifier_tls, nullptr);
}

TEST(ProfileConfigTest, ErrorsNameFileProfileAndField) {
  struct Case {
    const char* json;
    const char* expected;
  } cases[] = {
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "magic"}}]})",
       "profiles.json: profile 'a': challenge.mode"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "static"}}]})",
       "profile 'a': challenge: static mode needs"},
      {R"({"profiles": [{"name": "a", "challenge": {"secret_env": "MISSING"}}]})",
       "challenge.secret_env: environment variable MISSING is not set"},
      {R"({"profiles": [{"name": "b", "digest": "md5", "challenge": {"mode": "one-time"}}]})",
       "profile 'b': digest"},
      {R"({"profiles": [{"name": "b", "key_usage": ["everything"], "challenge": {"mode": "one-time"}}]})",
       "key_usage: unknown 'everything'"},
      {R"({"profiles": [{"name": "b", "key_usage": ["digitalSignature", "keyCertSign"], "challenge": {"mode": "one-time"}}]})",
       "profile 'b': key_usage: keyCertSign is a CA usage; issued certificates are CA:FALSE"},
      {R"({"profiles": [{"name": "b", "max_subject_bytes": 20000, "challenge": {"mode": "one-time"}}]})",
       "profile 'b': max_subject_bytes: must be at most 16384"},
      {R"({"profiles": [{"name": "b", "san_policy": [{"type": "x400", "patterns": ["*"]}], "challenge": {"mode": "one-time"}}]})",
       "san_policy.type"},
      {R"({"profiles": [{"name": "b", "min_rsa_bits": 1024, "challenge": {"mode": "one-time"}}]})",
       "min_rsa_bits"},
      {R"({"profiles": [{"name": "b", "challenge": {"mode": "external", "verifier_url": "ftp://x"}}]})",
       "challenge.verifier_url: must be http[s]://host[:port]/path"},
      {R"({"profiles": [{"name": "b", "challenge": {"mode": "external", "verifier_url": "https://x:99999/v"}}]})",
       "challenge.verifier_url: must be http[s]://host[:port]/path (challenge.verifier_url has a bad port)"},
      {R"({"profiles": [{"name": "b", "challenge": {"mode": "external", "verifier_url": "http://x/v", "verifier_tls": {"ca_file": "/ca.pem"}}}]})",
       "profile 'b': challenge.verifier_tls: is for an https:// URL only"},
      {R"({"profiles": [{"name": "b", "challenge": {"mode": "external", "verifier_url": "https://x/v", "verifier_tls": {"ca_file": "/missing.pem"}}}]})",
       "profiles.json: profile 'b': challenge.verifier_tls.ca_file: no CA certificate loads from /missing.pem"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "https://mdm/x", "tls": {"cert_file": "/c.pem"}}, "challenge": {"mode": "one-time"}}]})",
       "profile 'b': notify.tls: cert_file and key_file go together"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "tls": {}}, "challenge": {"mode": "one-time"}}]})",
       "profile 'b': notify.tls: is for an https:// URL only"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "static", "secret_file": "/blank"}}]})",
       "profile 'a': challenge.secret_file: cannot read /blank"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "static", "secret_env": "WIFI_SECRET", "secret_file": "/c"}}]})",
       "profile 'a': challenge: secret_env and secret_file are exclusive"},
      {R"({"profiles": [{"name": "b", "crl_distribution_points": ["ftp://x/ca.crl"], "challenge": {"mode": "one-time"}}]})",
       "profile 'b': crl_distribution_points: 'ftp://x/ca.crl' is not an http://, https:// or ldap:// URI"},
      {R"({"profiles": [{"name": "b", "crl_distribution_points": ["http://x/crl/default/{kye}.crl"], "challenge": {"mode": "one-time"}}]})",
       "profile 'b': crl_distribution_points: 'http://x/crl/default/{kye}.crl' has a placeholder other than {key}"},
      {R"({"profiles": [{"name": "b", "ca_issuers": ["http://x/ca/{ca}.crt"], "challenge": {"mode": "one-time"}}]})",
       "ca_issuers: 'http://x/ca/{ca}.crt' has a placeholder other than {key}"},
      {R"({"profiles": [{"name": "b", "ca_issuers": ["ldap://x/ca"], "challenge": {"mode": "one-time"}}]})",
       "profile 'b': ca_issuers: 'ldap://x/ca' is not an http:// or https:// URI"},
      {R"({"profiles": [{"name": "b", "ca_issuers": ["http://x/a b"], "challenge": {"mode": "one-time"}}]})",
       "ca_issuers: 'http://x/a b' has a character"},
      {R"({"profiles": [{"name": "Bad Name", "challenge": {"mode": "one-time"}}]})",
       "profile name 'Bad Name'"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "mdm/x"}, "challenge": {"mode": "one-time"}}]})",
       "profile 'b': notify.url: must be http[s]://host[:port]/path"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "timeout_ms": 60001}, "challenge": {"mode": "one-time"}}]})",
       "notify.timeout_ms: must be at most 60000"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "events": ["revoked"]}, "challenge": {"mode": "one-time"}}]})",
       "notify.events: unknown event revoked"},
      {R"({"profiles": [{"name": "b", "notify": {"events": ["issued"]}, "challenge": {"mode": "one-time"}}]})",
       "notify.url: is required"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "csr": "yes"}, "challenge": {"mode": "one-time"}}]})",
       "notify.csr: must be auto, include or omit"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "secret_env": "UNSET_VARIABLE"}, "challenge": {"mode": "one-time"}}]})",
       "notify.secret_env: environment variable UNSET_VARIABLE is not set"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "secret_env": "WIFI_SECRET"}, "challenge": {"mode": "one-time"}}]})",
       "notify: the signing key must be at least 16 bytes"},
      {R"({"profiles": [{"name": "b", "notify": {"url": "http://mdm/x", "secret_env": "A", "secret_file": "/k"}, "challenge": {"mode": "one-time"}}]})",
       "notify: secret_env and secret_file are exclusive"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "one-time"}}, {"name": "a", "challenge": {"mode": "one-time"}}]})",
       "defined twice"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "one-time"}, "renewal_from_profiles": ["byod"]}]})",
       "profiles.json: profile 'a': renewal_from_profiles: no profile is named 'byod'"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "one-time"}, "renewal_from_profiles": ["a"]}]})",
       "profile 'a': renewal_from_profiles: names the profile itself"},
      {R"({"profiles": [{"name": "a", "challenge": {"mode": "one-time"}, "renewal_from_profiles": ["b"]},
                        {"name": "b", "challenge": {"mode": "one-time"}, "issuing_ca": "wifi"}]})",
       "profile 'a': renewal_from_profiles: profile 'b' issues from another CA"},
      {R"({"profiles": [{"name": "a", "colour": "blue"}]})", "profiles.json: "},
      {R"({"profiles": []})", "no profiles"},
      {R"(not json)", "profiles.json: "},
  };
  for (const Case& c : cases) {
    auto result = Parse(c.json);
    ASSERT_FALSE(result.ok()) << c.json;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(result.status().message(), c.expected))
        << result.status().message() << " / expected " << c.expected;
    EXPECT_FALSE(absl::StrContains(result.status().message(), "Wifi-Secret"));
  }
  // The secret never appears in an error.
  auto bad = Parse(R"({"profiles": [{"name": "a", "digest": "md5",
                       "challenge": {"secret_env": "WIFI_SECRET"}}]})");
  EXPECT_FALSE(absl::StrContains(bad.status().message(), "Wifi-Secret"));
}

// "{key}" in crl_distribution_points and ca_issuers becomes the issuing CA
// key's identifier (the certificate's AKI), so that certificates issued
// before and after a CA rollover each point at their own CA's CRL
// (/crl/{ca}/{keyid}.crl) and certificate.
TEST(ProfileConfigTest, KeyPlaceholderBecomesTheIssuingCaKeyId) {
  auto profiles = Parse(R"({"profiles": [{"name": "p",
     "crl_distribution_points": ["http://pki.example.com/crl/default/{key}.crl"],
     "ca_issuers": ["http://pki.example.com/ca/default/{key}.crt"],
     "challenge": {"mode": "one-time"}}]})");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  testing::InProcessSigner signer;
  redis::MemoryCertificateIndex index;
  ProfileIssuer issuer(&signer, &index);
  crypto::testing::Identity device = crypto::testing::Issue("key-device", nullptr, {});
  codec::CsrSpec spec;
  spec.common_name = "key-device";
  codec::Csr csr = codec::ParseCsr(codec::BuildCsr(device.key.get(), spec).value()).value();
  absl::StatusOr<std::string> der = issuer.Issue((*profiles)[0], csr);
  ASSERT_TRUE(der.ok()) << der.status();
  crypto::X509Ptr cert = crypto::FromDer<crypto::X509Ptr>(*der, d2i_X509, "cert").value();
  crypto::X509Ptr ca = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
  const std::string key_id = crypto::CaKeyId(ca.get());
  EXPECT_EQ(crypto::testing::FirstCrlDistributionPoint(cert.get()),
            "http://pki.example.com/crl/default/" + key_id + ".crl");
  EXPECT_EQ(crypto::testing::FirstAuthorityInfoAccess(cert.get()),
            "http://pki.example.com/ca/default/" + key_id + ".crt");
}

// Attribute types as administrators write them: any case, long names. They
// are kept as the short names requests are compared with; before, a long
// name in allowed_rdns refused every request, and "{cn}" in the subject
// template refused each one for lacking "cn".
TEST(ProfileConfigTest, AttributeTypesInAnyCaseOrLongForm) {
  auto profiles = Parse(R"({"profiles": [{"name": "p",
     "subject": [{"type": "cn", "value": "{commonName}"},
                 {"type": "organizationName", "value": "Example"}],
     "allowed_rdns": ["commonName", "o", "EMAILADDRESS"],
     "challenge": {"mode": "one-time"}}]})");
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  const Profile& p = (*profiles)[0];
  EXPECT_EQ(p.subject, (std::vector<std::pair<std::string, std::string>>{
                           {"CN", "{CN}"}, {"O", "Example"}}));
  EXPECT_EQ(p.allowed_rdns, (std::vector<std::string>{"CN", "O", "emailAddress"}));
  auto unknown = Parse(R"({"profiles": [{"name": "p",
     "subject": [{"type": "CN", "value": "{deviceName}"}], "challenge": {"mode": "one-time"}}]})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(unknown.status().message(),
                                "'{deviceName}' names no attribute type"))
      << unknown.status();
}

class ProfileIssuerTest : public ::testing::Test {
 protected:
  codec::Csr MakeCsr(EVP_PKEY* key, const std::string& cn,
                     const std::vector<std::string>& sans) {
    codec::CsrSpec spec;
    spec.common_name = cn;
    spec.dns_sans = sans;
    return codec::ParseCsr(codec::BuildCsr(key, spec).value()).value();
  }

  testing::InProcessSigner signer_;
  redis::MemoryCertificateIndex index_;
  ProfileIssuer issuer_{&signer_, &index_};
  crypto::EvpPkeyPtr rsa_{EVP_RSA_gen(2048)};
};

TEST_F(ProfileIssuerTest, SubjectTemplateSanPolicyAndUsages) {
  Profile p;
  p.subject = {{"CN", "{CN}"}, {"O", "Example Corp"}, {"OU", "Devices"}};
  p.san_policy = {{"dns", {"*.devices.example"}}};
  p.key_usage = {"digitalSignature"};
  p.extended_key_usage = {"clientAuth", "serverAuth"};
  auto der = issuer_.Issue(p, MakeCsr(rsa_.get(), "laptop-7", {"laptop-7.devices.example"}));
  ASSERT_TRUE(der.ok()) << der.status();
  auto cert = crypto::FromDer<crypto::X509Ptr>(*der, d2i_X509, "c").value();
  EXPECT_EQ(codec::SubjectText(X509_get_subject_name(cert.get())),
            "OU=Devices,O=Example Corp,CN=laptop-7");
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT | XKU_SSL_SERVER));
  // Recorded in the index.
  EXPECT_TRUE(index_.Get(codec::SerialHex(X509_get0_serialNumber(cert.get())))
                  .value()
                  .has_value());
  // Outside the SAN policy: refused, not rewritten.
  auto outside = issuer_.Issue(p, MakeCsr(rsa_.get(), "x", {"evil.example"}));
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(outside.status().message(), "dns:evil.example"));
  EXPECT_EQ(signer_.issued.load(), 1);
}

// Windows' CryptoAPI writes a subject that is not printable as BMPString:
// a template copying {CN} puts its text in the certificate as UTF-8, never
// its UTF-16 bytes.
TEST_F(ProfileIssuerTest, SubjectTemplateCopiesAnyStringTypeAsUtf8) {
  Profile p;
  p.subject = {{"CN", "{CN}"}, {"O", "Example Corp"}};
  const std::string name = "J\xc3\xbcrgen's laptop";  // "Jürgen's laptop"
  for (int type : {0, V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING, V_ASN1_T61STRING}) {
    codec::CsrSpec spec;
    spec.common_name = name;
    spec.common_name_type = type;
    auto csr = codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
    auto der = issuer_.Issue(p, csr);
    ASSERT_TRUE(der.ok()) << type << ": " << der.status();
    auto cert = crypto::FromDer<crypto::X509Ptr>(*der, d2i_X509, "c").value();
    const X509_NAME* subject = X509_get_subject_name(cert.get());
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(
        X509_NAME_get_entry(subject, X509_NAME_get_index_by_NID(subject, NID_commonName, -1)));
    EXPECT_EQ(ASN1_STRING_type(cn), V_ASN1_UTF8STRING) << type;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                          ASN1_STRING_length(cn)),
              name)
        << type;
  }
  // A broken BMPString or UniversalString in a subject never gets here:
  // OpenSSL's parser refuses the request (its names are checked as UTF-8
  // when decoded), which is a FAILURE badMessageCheck.
  EXPECT_EQ(signer_.issued.load(), 4);
}

// IP subjectAltNames are matched as text: dotted quads, and IPv6 in RFC
// 5952 form (before, every IPv6 address read "<ipv6>" and no pattern but
// "*" could allow one).
TEST_F(ProfileIssuerTest, IpSanPolicyCoversIpv6) {
  Profile p;
  p.san_policy = {{"ip", {"10.1.*", "2001:db8:*"}}};
  auto csr = [&](std::vector<std::string> sans) {
    codec::CsrSpec spec;
    spec.common_name = "router-1";
    spec.other_sans = std::move(sans);
    return codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
  };
  EXPECT_TRUE(ProfileIssuer::CheckPolicy(p, csr({"IP:10.1.2.3", "IP:2001:DB8:0:0::7"})).ok());
  auto v6 = ProfileIssuer::CheckPolicy(p, csr({"IP:2001:db9::1"}));
  EXPECT_EQ(v6.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(v6.message(), "ip:2001:db9::1")) << v6.message();
  auto v4 = ProfileIssuer::CheckPolicy(p, csr({"IP:10.2.0.1"}));
  EXPECT_TRUE(absl::StrContains(v4.message(), "ip:10.2.0.1")) << v4.message();
}

// The DER extnValue of a subjectAltName in OpenSSL's config syntax.
std::string SanValue(const char* names) {
  crypto::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, names));
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext.get());
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

// A request with two subjectAltName extensions: OpenSSL's X509V3_get_d2i
// finds none among two, so neither san_policy nor max_sans saw a name, and
// the signer copied the first (www.bank.example was issued under a
// *.devices.example policy). Refused, as is a SAN that does not decode
// (read as none before) or holds no name.
TEST_F(ProfileIssuerTest, AmbiguousOrBrokenSubjectAltNamesAreRefused) {
  Profile p;
  p.san_policy = {{"dns", {"*.devices.example"}}};
  auto csr = [&](std::vector<std::pair<int, std::string>> extra) {
    codec::CsrSpec spec;
    spec.common_name = "dup";
    spec.dns_sans = {"www.bank.example"};
    spec.extra_extensions = std::move(extra);
    return codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
  };
  const codec::Csr two = csr({{NID_subject_alt_name, SanValue("DNS:ok.devices.example")}});
  auto refused = issuer_.Issue(p, two);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "more than one subjectAltName extension"))
      << refused.status();
  Profile open;  // no san_policy: max_sans saw nothing either
  open.max_sans = 1;
  EXPECT_EQ(ProfileIssuer::CheckPolicy(open, two).code(), absl::StatusCode::kPermissionDenied);

  auto alone = [&](std::string value) {
    codec::CsrSpec spec;
    spec.common_name = "broken";
    spec.extra_extensions = {{NID_subject_alt_name, std::move(value)}};
    return codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
  };
  auto broken = ProfileIssuer::CheckPolicy(p, alone(std::string("\x30\x05\x82\x07www", 7)));
  EXPECT_EQ(broken.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(broken.message(), "does not decode")) << broken;
  auto empty = ProfileIssuer::CheckPolicy(p, alone(std::string("\x30\x00", 2)));
  EXPECT_EQ(empty.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(signer_.issued.load(), 0);
  // One extension inside the policy still passes.
  EXPECT_TRUE(ProfileIssuer::CheckPolicy(p, alone(SanValue("DNS:ok.devices.example"))).ok());
}

// SAN text was never checked: GlobMatch's '*' matched a NUL, so
// "www.bank.com\0.devices.example.com" passed "*.devices.example.com" and
// "ceo@evil.com\0@example.com" passed "*@example.com", and the signer
// issued both. Every name must be well-formed for its type, whatever the
// profile.
// A CN with a NUL or a control character reads one way here and another
// to a relying party using it as a host name: refused, whatever the profile.
TEST_F(ProfileIssuerTest, SubjectWithAControlCharacterIsRefused) {
  for (const std::string& cn : {std::string("admin\0.evil.example", 19),
                                std::string("tab\there"), std::string("c1\xc2\x85")}) {
    codec::CsrSpec spec;
    spec.common_name = cn;
    codec::Csr csr = codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
    absl::Status refused = ProfileIssuer::CheckPolicy(Profile{}, csr);
    EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << cn;
    EXPECT_EQ(refused.message(), "subject CN holds a control character");
  }
  EXPECT_EQ(signer_.issued.load(), 0);
}

TEST_F(ProfileIssuerTest, MalformedSubjectAltNamesAreRefused) {
  Profile p;
  p.san_policy = {{"dns", {"*.devices.example.com"}},
                  {"email", {"*@example.com"}},
                  {"upn", {"*@corp.example.com"}},
                  {"uri", {"*"}}};
  auto csr = [&](int type, std::string bytes) {
    codec::CsrSpec spec;
    spec.common_name = "device";
    spec.raw_sans = {{type, std::move(bytes)}};
    return codec::ParseCsr(codec::BuildCsr(rsa_.get(), spec).value()).value();
  };
  for (const auto& [type, bytes] : std::vector<std::pair<int, std::string>>{
           {GEN_DNS, std::string("www.bank.com\0.devices.example.com", 33)},
           {GEN_DNS, "bad name\xe9.devices.example.com"},
           {GEN_DNS, "*.devices.example.com"},
           {GEN_EMAIL, std::string("ceo@evil.com\0@example.com", 25)},
           {GEN_EMAIL, "ceo@evil.com@example.com"},
           {GEN_OTHERNAME, std::string("administrator@corp.example.com\0x", 32)},
           {GEN_URI, "IntuneDeviceId://x\ty"}}) {
    auto refused = issuer_.Issue(p, csr(type, bytes));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << bytes;
    EXPECT_TRUE(absl::StartsWith(refused.status().message(), "subjectAltName "))
        << refused.status();
    // Without a SAN policy too.
    EXPECT_EQ(ProfileIssuer::CheckPolicy(Profile{}, csr(type, bytes)).code(),
              absl::StatusCode::kPermissionDenied)
        << bytes;
  }
  EXPECT_EQ(signer_.issued.load(), 0);
  for (const auto& [type, bytes] : std::vector<std::pair<int, std::string>>{
           {GEN_DNS, "laptop-7.devices.example.com"},
           {GEN_EMAIL, "alice@example.com"},
           {GEN_OTHERNAME, "alice@corp.example.com"},
           {GEN_URI, "IntuneDeviceId://3f1c2a7e-0000-4000-8000-000000000001"}}) {
    auto issued = issuer_.Issue(p, csr(type, bytes));
    EXPECT_TRUE(issued.ok()) << bytes << ": " << issued.status();
  }
}

TEST_F(ProfileIssuerTest, KeyAndRdnChecks) {
  Profile p;
  p.min_rsa_bits = 3072;
  EXPECT_EQ(ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), "a", {})).code(),
            absl::StatusCode::kPermissionDenied);
  p.min_rsa_bits = 2048;
  p.key_types = {"ec-p256"};
  EXPECT_FALSE(ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), "a", {})).ok());
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  EXPECT_TRUE(ProfileIssuer::CheckPolicy(p, MakeCsr(ec.get(), "a", {})).ok());
  crypto::EvpPkeyPtr ec384(EVP_EC_gen("P-384"));
  EXPECT_FALSE(ProfileIssuer::CheckPolicy(p, MakeCsr(ec384.get(), "a", {})).ok());
  // ec-p256 is the curve P-256, not any 256-bit curve (the type was "ec-p"
  // and the key's size), nor P-256 as explicit parameters.
  for (const char* curve : {"secp256k1", "brainpoolP256r1"}) {
    auto other = ProfileIssuer::CheckPolicy(p, MakeCsr(crypto::testing::EcKey(curve).get(), "a", {}));
    EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied) << curve;
    EXPECT_TRUE(absl::StrContains(other.message(), std::string("ec-") + curve)) << other;
  }
  auto explicit_p256 = ProfileIssuer::CheckPolicy(
      p, MakeCsr(crypto::testing::EcKey("P-256", /*explicit_parameters=*/true).get(), "a", {}));
  EXPECT_EQ(explicit_p256.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(explicit_p256.message(), "explicit curve parameters"))
      << explicit_p256;
  // RSA public exponent 3 was accepted.
  p.key_types = {"rsa", "ec-p256"};
  auto e3 = ProfileIssuer::CheckPolicy(p, MakeCsr(crypto::testing::RsaKey(2048, 3).get(), "a", {}));
  EXPECT_EQ(e3.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(e3.message(), "public exponent 3")) << e3;
  p.key_types = {"rsa"};
  p.allowed_rdns = {"O"};
  auto refused = ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), "a", {}));
  EXPECT_TRUE(absl::StrContains(refused.message(), "CN is not allowed"));
  // Too many SANs.
  p.allowed_rdns.clear();
  p.max_sans = 2;
  auto many = ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), "a", {"a.x", "b.x", "c.x"}));
  EXPECT_TRUE(absl::StrContains(many.message(), "too many subjectAltNames"));
  EXPECT_TRUE(ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), "a", {"a.x", "b.x"})).ok());
  // A subject larger than max_subject_bytes (DER).
  p.max_subject_bytes = 40;
  auto big = ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), std::string(40, 'c'), {}));
  EXPECT_EQ(big.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(big.message(), "the profile allows 40")) << big.message();
  EXPECT_TRUE(ProfileIssuer::CheckPolicy(p, MakeCsr(rsa_.get(), std::string(20, 'c'), {})).ok());
  // A template needing an attribute the request lacks.
  Profile t;
  t.subject = {{"CN", "{serialNumber}"}};
  EXPECT_EQ(issuer_.Issue(t, MakeCsr(rsa_.get(), "a", {})).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace scep::gateway
