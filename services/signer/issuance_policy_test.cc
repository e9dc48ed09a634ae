#include "services/signer/issuance_policy_file.h"

#include <openssl/ec.h>
#include <openssl/x509v3.h>

#include <sstream>

#include "absl/strings/escaping.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/test_pki.h"
#include "gtest/gtest.h"
#include "services/signer/issuance_audit.h"
#include "services/signer/issuer.h"
#include "services/signer/usage_names.h"
#include "services/signer/signer_core.h"

namespace scep::signer {
namespace {

std::string Testdata(const std::string& name) {
  return std::string(SCEP_TESTDATA_DIR) + "/" + name;
}

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// A device request: a fresh key (`rsa_bits` 0: EC P-256), subject CN=`cn`,
// SANs `sans` in OpenSSL's config syntax ("DNS:a,IP:10.0.0.1"; "" none).
struct Device {
  crypto::EvpPkeyPtr key;
  crypto::X509ReqPtr csr;
};

Device NewDevice(const std::string& cn, const std::string& sans, crypto::EvpPkeyPtr key) {
  Device d;
  d.key = std::move(key);
  d.csr.reset(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(d.csr.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.data()),
                             static_cast<int>(cn.size()), -1, 0);
  X509_REQ_set_pubkey(d.csr.get(), d.key.get());
  if (!sans.empty()) {
    crypto::ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                              sans.c_str());
    EXPECT_NE(san, nullptr) << sans;
    sk_X509_EXTENSION_push(exts.get(), san);
    X509_REQ_add_extensions(d.csr.get(), exts.get());
  }
  EXPECT_GT(X509_REQ_sign(d.csr.get(), d.key.get(), EVP_sha256()), 0);
  return d;
}

Device NewDevice(const std::string& cn, const std::string& sans, int rsa_bits = 0) {
  return NewDevice(cn, sans,
                   crypto::EvpPkeyPtr(rsa_bits > 0 ? EVP_RSA_gen(rsa_bits) : EVP_EC_gen("P-256")));
}

// The certificate the CA would sign for `device` with `params`.
crypto::X509Ptr Build(const Device& device, IssueParams params) {
  crypto::X509Ptr ca = crypto::LoadCertificateFile(Testdata("ca.pem")).value();
  params.now = kNow;
  return BuildCertificate(device.csr.get(), device.key.get(), ca.get(), params).value();
}

IssuancePolicy Parse(const std::string& json) {
  auto parsed = ParseIssuancePolicies(json, "policy.json", {""});
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->at("") : IssuancePolicy{};
}

std::string RuleOf(const IssuancePolicy& policy, const Device& device, IssueParams params,
                   const std::string& digest = "sha256") {
  crypto::X509Ptr cert = Build(device, std::move(params));
  std::optional<PolicyRefusal> refusal =
      CheckIssuance(policy, cert.get(), device.key.get(), digest, kNow);
  return refusal.has_value() ? refusal->rule : "ok";
}

TEST(IssuancePolicyTest, CaKeyUsagesAreRefusedEvenWithoutAPolicy) {
  Device device = NewDevice("dev", "DNS:dev.corp.example");
  IssueParams params;
  EXPECT_EQ(RuleOf(IssuancePolicy{}, device, params), "ok");
  params.key_usage = {"digitalSignature", "keyCertSign"};
  EXPECT_EQ(RuleOf(IssuancePolicy{}, device, params), "key_usage");
  params.key_usage = {"cRLSign"};
  EXPECT_EQ(RuleOf(IssuancePolicy{}, device, params), "key_usage");
}

TEST(IssuancePolicyTest, EachBoundRefusesWhatIsOutsideAndPassesWhatIsInside) {
  IssuancePolicy policy = Parse(R"({"default_ca": {
      "max_validity_days": 398,
      "allowed_key_usage": ["digitalSignature", "keyAgreement", "keyEncipherment"],
      "allowed_extended_key_usage": ["clientAuth", "1.3.6.1.4.1.311.20.2.2"],
      "allowed_san_types": ["dns", "email", "ip", "upn"],
      "permitted_dns_domains": ["corp.example", ".wifi.example"],
      "permitted_email_domains": ["corp.example"],
      "permitted_ip_ranges": ["10.0.0.0/8", "fd00::/8"],
      "max_san_entries": 3,
      "max_subject_bytes": 64,
      "allowed_digests": ["sha256"],
      "allowed_key_types": ["ec-p256"]}})");
  Device good = NewDevice("dev", "DNS:a.corp.example,DNS:corp.example,IP:10.1.2.3");
  IssueParams params;
  params.validity_days = 398;
  params.extended_key_usage = {"clientAuth", "msSmartcardLogin"};
  EXPECT_EQ(RuleOf(policy, good, params), "ok");

  IssueParams longer = params;
  longer.validity_days = 399;
  EXPECT_EQ(RuleOf(policy, good, longer), "validity");
  IssueParams usage = params;
  usage.key_usage = {"digitalSignature", "nonRepudiation"};
  EXPECT_EQ(RuleOf(policy, good, usage), "key_usage");
  IssueParams eku = params;
  eku.extended_key_usage = {"clientAuth", "serverAuth"};
  EXPECT_EQ(RuleOf(policy, good, eku), "extended_key_usage");
  EXPECT_EQ(RuleOf(policy, good, params, "sha512"), "digest");

  EXPECT_EQ(RuleOf(policy, NewDevice("d", "DNS:corp.example.evil.com"), params), "dns_domain");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "DNS:evilcorp.example"), params), "dns_domain");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "DNS:X.WiFi.Example"), params), "ok");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "email:a@corp.example"), params), "ok");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "email:a@corp.example.net"), params), "email_domain");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "otherName:msUPN;UTF8:u@other.example"), params),
            "email_domain");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "IP:11.0.0.1"), params), "ip_range");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "IP:fd12::1"), params), "ok");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "URI:https://corp.example/x"), params), "san_type");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "DNS:a.corp.example,DNS:b.corp.example,"
                                          "DNS:c.corp.example,DNS:d.corp.example"),
                   params),
            "san_count");
  Device long_subject = NewDevice("d", "");
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(long_subject.csr.get()), "O",
                             MBSTRING_ASC, reinterpret_cast<const unsigned char*>(
                                               std::string(60, 'o').c_str()),
                             -1, -1, 0);
  EXPECT_EQ(RuleOf(policy, long_subject, params), "subject_size");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "DNS:a.corp.example", 2048), params), "key");

  // The gateway's subject and SAN replace the request's: those are checked.
  IssueParams replaced = params;
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "DNS:www.bank.example");
  ASSERT_NE(ext, nullptr);
  crypto::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
  X509_EXTENSION_free(ext);
  replaced.subject_alt_name = names.get();
  EXPECT_EQ(RuleOf(policy, good, replaced), "dns_domain");
}

// GeneralNames of one name of `type` holding `bytes` as they are (what a
// hostile request, or a gateway, may hand the signer).
crypto::GeneralNamesPtr RawNames(int type, const std::string& bytes) {
  crypto::GeneralNamesPtr names(GENERAL_NAMES_new());
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  EXPECT_EQ(ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size())), 1);
  GENERAL_NAME_set0_value(name, type, value);
  sk_GENERAL_NAME_push(names.get(), name);
  return names;
}

// SAN text was never checked: "www.bank.com\0.devices.example.com" lay
// within devices.example.com, "ceo@evil.com\0@example.com" within
// example.com. Now a built-in rule, policy or not.
TEST(IssuancePolicyTest, MalformedSubjectAltNamesAreRefusedEvenWithoutAPolicy) {
  IssuancePolicy policy = Parse(R"({"default_ca": {
      "permitted_dns_domains": ["devices.example.com"],
      "permitted_email_domains": ["example.com"]}})");
  Device device = NewDevice("dev", "DNS:dev.devices.example.com");
  for (const auto& [type, bytes] : std::vector<std::pair<int, std::string>>{
           {GEN_DNS, std::string("www.bank.com\0.devices.example.com", 33)},
           {GEN_DNS, "*.devices.example.com"},
           {GEN_EMAIL, std::string("ceo@evil.com\0@example.com", 25)},
           {GEN_EMAIL, "ceo@evil.com@example.com"}}) {
    crypto::GeneralNamesPtr names = RawNames(type, bytes);
    IssueParams params;
    params.subject_alt_name = names.get();
    EXPECT_EQ(RuleOf(policy, device, params), "san_syntax") << bytes;
    EXPECT_EQ(RuleOf(IssuancePolicy{}, device, params), "san_syntax") << bytes;
  }
  crypto::X509Ptr cert = Build(device, IssueParams{});
  EXPECT_FALSE(CheckIssuance(IssuancePolicy{}, cert.get(), device.key.get(), "sha256", kNow));
  // A certificate carrying two subjectAltName extensions is refused too.
  X509_EXTENSION* second =
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "DNS:www.bank.example");
  ASSERT_EQ(X509_add_ext(cert.get(), second, -1), 1);
  X509_EXTENSION_free(second);
  std::optional<PolicyRefusal> two =
      CheckIssuance(policy, cert.get(), device.key.get(), "sha256", kNow);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->rule, "san_syntax");
}

// Built-in too: a subject whose text hides something from a relying party
// that uses the CN as a host name or shows it (a NUL, a control character).
TEST(IssuancePolicyTest, SubjectWithAControlCharacterIsRefused) {
  Device device = NewDevice("dev", "DNS:dev.devices.example.com");
  for (const std::string& cn :
       {std::string("admin\0.evil.example", 19), std::string("line\nbreak"),
        std::string("c1\xc2\x85")}) {
    crypto::X509NamePtr subject(X509_NAME_new());
    ASSERT_EQ(X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(cn.data()),
                                         static_cast<int>(cn.size()), -1, 0),
              1);
    IssueParams params;
    params.subject = subject.get();
    EXPECT_EQ(RuleOf(IssuancePolicy{}, device, params), "subject_syntax") << cn;
  }
  crypto::X509NamePtr fine(X509_NAME_new());
  const std::string accented = "J\xc3\xbcrgen's laptop";
  ASSERT_EQ(X509_NAME_add_entry_by_txt(fine.get(), "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(accented.data()),
                                       -1, -1, 0),
            1);
  IssueParams params;
  params.subject = fine.get();
  crypto::X509Ptr cert = Build(device, std::move(params));
  EXPECT_FALSE(CheckIssuance(IssuancePolicy{}, cert.get(), device.key.get(), "sha256", kNow));
}

TEST(IssuancePolicyTest, RsaKeySizeBound) {
  IssuancePolicy policy = Parse(R"({"default_ca": {"min_rsa_bits": 3072}})");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "", 2048), IssueParams{}), "key");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "", 3072), IssueParams{}), "ok");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", ""), IssueParams{}), "ok");  // EC: no RSA bound
}

// ec-p256 and ec-p384 name the NIST curves: the type was "ec-p" and the
// key's size, so secp256k1 and brainpoolP256r1 keys were ec-p256, and so was
// P-256 given as explicit parameters (refused even without a policy).
TEST(IssuancePolicyTest, KeyTypesAreNamedCurvesNotSizes) {
  IssuancePolicy policy = Parse(R"({"default_ca": {"allowed_key_types": ["ec-p256", "ec-p384"]}})");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "", crypto::testing::EcKey("P-256")), IssueParams{}),
            "ok");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "", crypto::testing::EcKey("P-384")), IssueParams{}),
            "ok");
  for (const char* curve : {"secp256k1", "brainpoolP256r1", "brainpoolP384r1"}) {
    EXPECT_EQ(RuleOf(policy, NewDevice("d", "", crypto::testing::EcKey(curve)), IssueParams{}),
              "key")
        << curve;
  }
  Device explicit_p256 = NewDevice("d", "", crypto::testing::EcKey("P-256", true));
  EXPECT_EQ(RuleOf(policy, explicit_p256, IssueParams{}), "key");
  EXPECT_EQ(RuleOf(IssuancePolicy{}, explicit_p256, IssueParams{}), "key");
}

// RSA public exponent 3 was signed whatever the policy; now a built-in
// rule.
TEST(IssuancePolicyTest, RsaExponentMustBeOddAndAtLeast65537) {
  IssuancePolicy policy = Parse(R"({"default_ca": {"allowed_key_types": ["rsa"]}})");
  Device e3 = NewDevice("d", "", crypto::testing::RsaKey(2048, 3));
  EXPECT_EQ(RuleOf(policy, e3, IssueParams{}), "key");
  EXPECT_EQ(RuleOf(IssuancePolicy{}, e3, IssueParams{}), "key");
  EXPECT_EQ(RuleOf(policy, NewDevice("d", "", crypto::testing::RsaKey(2048, 65537)),
                   IssueParams{}),
            "ok");
}

TEST(IssuancePolicyTest, FileErrorsNameTheCaAndField) {
  auto error = [](const std::string& json) {
    auto parsed = ParseIssuancePolicies(json, "policy.json", {"", "wifi"});
    EXPECT_FALSE(parsed.ok()) << json;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
    return std::string(parsed.status().message());
  };
  EXPECT_EQ(error(R"({"default_ca": {"allowed_key_usage": ["keyCertSign"]}})"),
            "policy.json: default_ca.allowed_key_usage: keyCertSign is a CA usage; "
            "certificates issued here are CA:FALSE");
  EXPECT_EQ(error(R"({"issuing_cas": {"vpn": {}}})"),
            "policy.json: issuing_cas.vpn: this signer serves no issuing CA of that name");
  EXPECT_EQ(error(R"({"issuing_cas": {"wifi": {"permitted_ip_ranges": ["10.0.0.0/33"]}}})"),
            "policy.json: issuing_cas.wifi.permitted_ip_ranges: '10.0.0.0/33' is not an "
            "address or CIDR range");
  EXPECT_NE(error(R"({"default_ca": {"max_validity_day": 3}})").find("policy.json: "),
            std::string::npos);
  EXPECT_NE(error(R"({"default_ca": {"allowed_extended_key_usage": ["clientAuthX"]}})")
                .find("unknown purpose 'clientAuthX'"),
            std::string::npos);
  EXPECT_NE(error(R"({"default_ca": {"permitted_dns_domains": ["a b"]}})").find("not a domain"),
            std::string::npos);
  EXPECT_NE(error(R"({"default_ca": {"max_validity_days": 4000}})").find("at most 3650"),
            std::string::npos);

  auto parsed = ParseIssuancePolicies(
      R"({"issuing_cas": {"wifi": {"max_validity_days": 30, "permitted_dns_domains": ["Wifi.Example"]}}})",
      "policy.json", {"", "wifi"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->at("").configured);  // left out: built-in rules only
  EXPECT_EQ(DescribeIssuancePolicy(parsed->at("")), "built-in rules only");
  EXPECT_EQ(DescribeIssuancePolicy(parsed->at("wifi")),
            "max_validity_days=30 dns_domains=wifi.example");
}

TEST(IssuancePolicyTest, SignerCoreRefusesBeforeTheCaKeySigns) {
  SignerOptions options;
  options.clock = [] { return kNow; };
  options.issuance_policy = Parse(R"({"default_ca": {"max_validity_days": 30}})");
  auto core = SignerCore::New(
                  std::move(options),
                  NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata("ca.key")).value()),
                  crypto::LoadCertificateFile(Testdata("ca.pem")).value(),
                  NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata("ra.key")).value()),
                  crypto::LoadCertificateFile(Testdata("ra.pem")).value())
                  .value();
  Device device = NewDevice("dev", "DNS:dev.corp.example");
  const std::string csr = crypto::ToDer(device.csr.get(), i2d_X509_REQ).value();
  SignerCore::Policy request;
  request.validity_days = 31;
  absl::StatusOr<std::string> refused = core->Issue(csr, request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PolicyRuleOf(refused.status()), "validity");
  EXPECT_EQ(refused.status().message(),
            "refused by the CA's issuance policy: validity of 31 days (at most 30)");
  request.validity_days = 30;
  EXPECT_TRUE(core->Issue(csr, request).ok());
  EXPECT_EQ(PolicyRuleOf(absl::InvalidArgumentError("other")), "");
}

TEST(IssuanceAuditTest, OneLinePerIssuanceAndRefusal) {
  std::ostringstream out;
  IssuanceAudit audit(&out, [] { return kNow; });
  Device device = NewDevice("dev-1", "DNS:dev-1.corp.example,IP:10.0.0.7");
  crypto::X509Ptr cert = Build(device, IssueParams{});
  crypto::EvpPkeyPtr ca_key = crypto::LoadPrivateKeyFile(Testdata("ca.key")).value();
  ASSERT_TRUE(SignCertificate(cert.get(), ca_key.get(), nullptr).ok());
  EXPECT_TRUE(audit.Issued({"default", "gateway-1", "tid-9", ""}, cert.get()));
  EXPECT_TRUE(audit.Refused({"wifi", "ipv4:10.0.0.2:4000", "", ""}, "validity",
                            "validity of 31 days (at most 30)"));
  const std::string text = out.str();
  const size_t first_end = text.find('\n');
  ASSERT_NE(first_end, std::string::npos);
  const std::string issued = text.substr(0, first_end);
  const std::string refused = text.substr(first_end + 1);
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert.get()));
  for (const std::string& want :
       {std::string(R"("event":"certificate_issued")"), std::string(R"("ca":"default")"),
        std::string(R"("caller":"gateway-1")"), std::string(R"("transaction_id":"tid-9")"),
        R"("serial":")" + serial + "\"", std::string(R"("subject":"CN=dev-1")"),
        std::string(R"("subject_alt_name":"DNS:dev-1.corp.example, IP Address:10.0.0.7")"),
        std::string(R"("not_after":"2028-01-15T08:00:00Z")"),
        std::string(R"("key_usage":"digitalSignature,keyAgreement")"),
        std::string(R"("extended_key_usage":"clientAuth")"),
        std::string(R"("signature_algorithm":"sha256WithRSAEncryption")")}) {
    EXPECT_NE(issued.find(want), std::string::npos) << want << " in " << issued;
  }
  EXPECT_NE(issued.find(R"("public_key_sha256":")"), std::string::npos);
  EXPECT_EQ(refused,
            R"({"ts":"2027-01-15T08:00:00.000Z","level":"warning","event":"issuance_refused",)"
            R"("ca":"wifi","caller":"ipv4:10.0.0.2:4000","rule":"validity",)"
            R"j("reason":"validity of 31 days (at most 30)"})j"
            "\n");
  EXPECT_EQ(audit.write_errors(), 0u);
  EXPECT_EQ(issued.find(R"("certificate":)"), std::string::npos) << "only when asked";
  EXPECT_EQ(issued.find(R"("profile":)"), std::string::npos) << "none said";
}

// --audit_certificates: the line carries the certificate as base64 DER and
// the profile the gateway named, what `scepctl certs restore` needs.
TEST(IssuanceAuditTest, CarriesTheCertificateAndProfileWhenAsked) {
  std::ostringstream out;
  IssuanceAudit audit(&out, [] { return kNow; });
  audit.set_include_certificates(true);
  Device device = NewDevice("dev-2", "");
  crypto::X509Ptr cert = Build(device, IssueParams{});
  crypto::EvpPkeyPtr ca_key = crypto::LoadPrivateKeyFile(Testdata("ca.key")).value();
  ASSERT_TRUE(SignCertificate(cert.get(), ca_key.get(), nullptr).ok());
  EXPECT_TRUE(audit.Issued({"default", "gateway-1", "tid-10", "wifi"}, cert.get()));
  const std::string line = out.str();
  EXPECT_NE(line.find(R"("profile":"wifi")"), std::string::npos) << line;
  const std::string key = R"("certificate":")";
  const size_t at = line.find(key);
  ASSERT_NE(at, std::string::npos) << line;
  const size_t end = line.find('"', at + key.size());
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(line.substr(at + key.size(), end - at - key.size()), &der));
  EXPECT_EQ(der, crypto::ToDer(cert.get(), i2d_X509).value());
}
}  // namespace
}  // namespace scep::signer

namespace scep::signer {
namespace {

TEST(UsageNamesTest, NamesAndBitsRoundTrip) {
  EXPECT_EQ(KeyUsageBit("keyAgreement"), KU_KEY_AGREEMENT);
  EXPECT_EQ(KeyUsageBit("KeyAgreement"), std::nullopt);
  EXPECT_EQ(KeyUsageNamesOf(KU_DIGITAL_SIGNATURE | KU_DECIPHER_ONLY | kCaKeyUsages),
            (std::vector<std::string>{"digitalSignature", "keyCertSign", "cRLSign",
                                      "decipherOnly"}));
  EXPECT_EQ(SanTypeBit("upn"), kSanUpn);
  EXPECT_EQ(SanTypeBit("x400"), std::nullopt);
  EXPECT_STREQ(SanTypeName(kSanIp), "ip");
  EXPECT_STREQ(SanTypeName(0), "other");
  EXPECT_EQ(OidName("1.3.6.1.5.5.7.3.2"), "clientAuth");
  EXPECT_EQ(OidName("1.2.3.4.5"), "1.2.3.4.5");
}

}  // namespace
}  // namespace scep::signer
