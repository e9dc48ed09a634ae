#include "services/signer/signer_core.h"

#include <openssl/ec.h>
#include <openssl/ocsp.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "gtest/gtest.h"
#include "services/signer/issuer.h"
#include "services/signer/signer_core_test_fixture.h"

namespace scep::signer::testing {
namespace {

TEST(SignerCoreTest, RefusesCertificateThatDoesNotMatchKey) {
  auto core = SignerCore::New(SignerOptions{}, Key("ra.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem"));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kFailedPrecondition);
}

std::string Ia5(const ASN1_IA5STRING* value) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<size_t>(ASN1_STRING_length(value)));
}

TEST(SignerCoreTest, CrlDistributionPointsAndCaIssuersGoIntoTheCertificate) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  SignerCore::Policy policy;
  policy.crl_distribution_points = {"http://pki.example.com/crl/default.crl",
                                    "ldap://ldap.example.com/cn=CA?certificateRevocationList"};
  policy.ca_issuers = {"http://pki.example.com/ca/default.crt"};
  absl::StatusOr<std::string> der = core->Issue(csr, policy);
  ASSERT_TRUE(der.ok()) << der.status();
  crypto::X509Ptr cert = ParseCert(*der);
  int critical = -1;
  crypto::CrlDistPointsPtr points(static_cast<CRL_DIST_POINTS*>(
          X509_get_ext_d2i(cert.get(), NID_crl_distribution_points, &critical, nullptr)));
  ASSERT_NE(points, nullptr);
  EXPECT_EQ(critical, 0);
  ASSERT_EQ(sk_DIST_POINT_num(points.get()), 1);
  DIST_POINT* point = sk_DIST_POINT_value(points.get(), 0);
  ASSERT_NE(point->distpoint, nullptr);
  ASSERT_EQ(point->distpoint->type, 0);  // fullName
  EXPECT_EQ(point->reasons, nullptr);
  EXPECT_EQ(point->CRLissuer, nullptr);
  GENERAL_NAMES* full = point->distpoint->name.fullname;
  ASSERT_EQ(sk_GENERAL_NAME_num(full), 2);
  for (int i = 0; i < 2; ++i) {
    GENERAL_NAME* name = sk_GENERAL_NAME_value(full, i);
    ASSERT_EQ(name->type, GEN_URI);
    EXPECT_EQ(Ia5(name->d.uniformResourceIdentifier), policy.crl_distribution_points[i]);
  }
  crypto::AuthorityInfoAccessPtr access(static_cast<AUTHORITY_INFO_ACCESS*>(
          X509_get_ext_d2i(cert.get(), NID_info_access, &critical, nullptr)));
  ASSERT_NE(access, nullptr);
  EXPECT_EQ(critical, 0);
  ASSERT_EQ(sk_ACCESS_DESCRIPTION_num(access.get()), 1);
  ACCESS_DESCRIPTION* description = sk_ACCESS_DESCRIPTION_value(access.get(), 0);
  EXPECT_EQ(OBJ_obj2nid(description->method), NID_ad_ca_issuers);
  ASSERT_EQ(description->location->type, GEN_URI);
  EXPECT_EQ(Ia5(description->location->d.uniformResourceIdentifier), policy.ca_issuers[0]);

  // Without them: neither extension.
  crypto::X509Ptr plain = ParseCert(core->Issue(csr, SignerCore::Policy{}).value());
  EXPECT_EQ(X509_get_ext_by_NID(plain.get(), NID_crl_distribution_points, -1), -1);
  EXPECT_EQ(X509_get_ext_by_NID(plain.get(), NID_info_access, -1), -1);
}

TEST(SignerCoreTest, PublicationUrisAreChecked) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"ftp://pki.example.com/ca.crl"},
           {"http://"},
           {"http:///path"},
           {"http://pki.example.com/a b.crl"},
           {"http://pki.example.com/\x01.crl"},
           {"http://pki.example.com/\"quoted\".crl"},
           {std::string("http://pki.example.com/") + std::string(1100, 'a')},
           {"http://a/1", "http://a/2", "http://a/3", "http://a/4", "http://a/5"}}) {
    SignerCore::Policy policy;
    policy.crl_distribution_points = bad;
    absl::StatusOr<std::string> der = core->Issue(csr, policy);
    EXPECT_EQ(der.status().code(), absl::StatusCode::kInvalidArgument) << bad[0];
    EXPECT_NE(der.status().message().find("crl_distribution_points"), std::string::npos);
  }
  SignerCore::Policy ldap_issuer;
  ldap_issuer.ca_issuers = {"ldap://ldap.example.com/cn=CA"};
  EXPECT_EQ(core->Issue(csr, ldap_issuer).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(crypto::CheckPublicationUris({"https://pki.example.com:8443/crl/wifi.crl"}, "x", false)
                  .ok());
}

TEST(SignerCoreTest, IssuesProfileConformantCertificate) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  absl::StatusOr<std::string> der = core->Issue(csr, 0, "");
  ASSERT_TRUE(der.ok()) << der.status();
  crypto::X509Ptr cert = ParseCert(*der);
  crypto::X509Ptr ca = Cert("ca.pem");
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_sha256WithRSAEncryption);
  // Serial: positive, at least 64 bits.
  crypto::BignumPtr serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  EXPECT_FALSE(BN_is_negative(serial.get()));
  EXPECT_GE(BN_num_bits(serial.get()), 64);
  // Subject and SAN from the request.
  codec::Csr parsed = codec::ParseCsr(csr).value();
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()),
                          X509_REQ_get_subject_name(parsed.request.get())),
            0);
  crypto::GeneralNamesPtr san(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_NE(san, nullptr);
  GENERAL_NAME* name = sk_GENERAL_NAME_value(san.get(), 0);
  ASSERT_EQ(name->type, GEN_DNS);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(
                            ASN1_STRING_get0_data(name->d.dNSName))),
            "fixture-strongswan.devices.example");
  // Key usage, EKU, SKI, AKI.
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), XKU_SSL_CLIENT);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  ASSERT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  // 365 days by default.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()),
                           X509_get0_notAfter(cert.get())),
            1);
  EXPECT_EQ(days, 365);
}

// An identity in the SAN alone (an empty subject, as some MDM payloads
// send): the SAN is critical (RFC 5280 4.2.1.6), so a strict verifier
// accepts the certificate; with a subject it is not, whatever was asked.
TEST(SignerCoreTest, SanIsCriticalExactlyWhenTheSubjectIsEmpty) {
  auto core = NewFixtureCore();
  crypto::X509Ptr ca = Cert("ca.pem");
  for (bool empty : {true, false}) {
    for (const char* asked : {"DNS:san-only.devices.example",
                              "critical,DNS:san-only.devices.example"}) {
      crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
      crypto::X509ReqPtr req(X509_REQ_new());
      if (!empty) {
        X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>("named"), -1, -1, 0);
      }
      X509_REQ_set_pubkey(req.get(), key.get());
      crypto::ExtStackPtr exts(sk_X509_EXTENSION_new_null());
      sk_X509_EXTENSION_push(exts.get(),
                             X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, asked));
      ASSERT_EQ(X509_REQ_add_extensions(req.get(), exts.get()), 1);
      ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
      std::string csr = crypto::ToDer(req.get(), i2d_X509_REQ).value();
      absl::StatusOr<std::string> der = core->Issue(csr, 0, "");
      ASSERT_TRUE(der.ok()) << der.status();
      crypto::X509Ptr cert = ParseCert(*der);
      X509_EXTENSION* san =
          X509_get_ext(cert.get(), X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1));
      ASSERT_NE(san, nullptr);
      EXPECT_EQ(X509_EXTENSION_get_critical(san), empty ? 1 : 0) << asked;
      // A strict chain check (x509_strict) accepts it.
      crypto::SslPtr<X509_STORE, X509_STORE_free> store(X509_STORE_new());
      X509_STORE_add_cert(store.get(), ca.get());
      crypto::SslPtr<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
      ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr), 1);
      X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
      EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
          << asked << ": " << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    }
  }
}

// Two subjectAltName extensions in a request: the signer copied the first
// while a policy reading the request through X509V3_get_d2i saw none.
// Refused here as well as at the gateway; so is a SAN that does not decode.
TEST(SignerCoreTest, RefusesAmbiguousOrBrokenSubjectAltName) {
  auto core = NewFixtureCore();
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  auto csr = [&](std::vector<std::pair<int, std::string>> extra) {
    codec::CsrSpec spec;
    spec.common_name = "dup";
    spec.dns_sans = {"www.bank.example"};
    spec.extra_extensions = std::move(extra);
    return codec::BuildCsr(key.get(), spec).value();
  };
  crypto::X509ExtPtr second(
      X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "DNS:ok.devices.example"));
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(second.get());
  absl::StatusOr<std::string> two = core->Issue(
      csr({{NID_subject_alt_name,
            std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                        static_cast<size_t>(ASN1_STRING_length(value)))}}),
      0, "");
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(two.status().message(), "more than one subjectAltName"))
      << two.status();
  absl::StatusOr<std::string> broken =
      core->Issue(csr({{NID_subject_alt_name, std::string("\x30\x05\x82\x07www", 7)}}), 0, "");
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  // One is copied as requested.
  crypto::X509Ptr cert = ParseCert(core->Issue(csr({}), 0, "").value());
  crypto::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_NE(names, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(names.get()), 1);
}

// A profile's key usages apply to the key they can apply to: the example
// profile's [digitalSignature, keyEncipherment] gave EC keys
// keyEncipherment, which RFC 5480 section 3 forbids for them.
TEST(SignerCoreTest, KeyUsagesThatDoNotApplyToTheKeyAreLeftOut) {
  auto core = NewFixtureCore();
  auto issue = [&](EVP_PKEY* key, std::vector<std::string> usages) {
    codec::CsrSpec spec;
    spec.common_name = "usage";
    SignerCore::Policy policy;
    policy.key_usage = std::move(usages);
    return core->Issue(codec::BuildCsr(key, spec).value(), policy);
  };
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  crypto::EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  crypto::X509Ptr ec_cert =
      ParseCert(issue(ec.get(), {"digitalSignature", "keyEncipherment", "dataEncipherment"})
                    .value());
  EXPECT_EQ(X509_get_key_usage(ec_cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  crypto::X509Ptr ec_agreement =
      ParseCert(issue(ec.get(), {"keyEncipherment", "keyAgreement"}).value());
  EXPECT_EQ(X509_get_key_usage(ec_agreement.get()), static_cast<uint32_t>(KU_KEY_AGREEMENT));
  crypto::X509Ptr rsa_cert = ParseCert(
      issue(rsa.get(), {"digitalSignature", "keyEncipherment", "keyAgreement", "encipherOnly",
                        "decipherOnly"})
          .value());
  EXPECT_EQ(X509_get_key_usage(rsa_cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  // Still critical, and still what a strict verifier accepts.
  X509_EXTENSION* usage = X509_get_ext(ec_cert.get(),
                                       X509_get_ext_by_NID(ec_cert.get(), NID_key_usage, -1));
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ(X509_EXTENSION_get_critical(usage), 1);
  // Nothing left: refused, not issued without a keyUsage.
  absl::StatusOr<std::string> none = issue(ec.get(), {"keyEncipherment"});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(none.status().message(), "EC key")) << none.status();
  // The defaults are unchanged.
  EXPECT_EQ(X509_get_key_usage(ParseCert(issue(ec.get(), {}).value()).get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
  EXPECT_EQ(X509_get_key_usage(ParseCert(issue(rsa.get(), {}).value()).get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

// An expired CA kept issuing: notAfter was capped at the CA's, before the
// certificate's notBefore. Nothing is signed now, and the refusal carries
// a rule, so the signer audits and counts it.
TEST(SignerCoreTest, AnExpiredCaIssuesNothingAndValidityStaysWithinTheCas) {
  crypto::X509Ptr ca = Cert("ca.pem");
  const absl::Time ca_not_before =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notBefore(ca.get())));
  const absl::Time ca_not_after =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(ca.get())));
  auto now = std::make_shared<absl::Time>(absl::Now());
  SignerOptions options;
  options.clock = [now] { return *now; };
  auto core = SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                              Cert("ra.pem"))
                  .value();
  const std::string csr = StrongswanCsr(*core);
  for (absl::Time expired : {ca_not_after, ca_not_after + absl::Hours(1)}) {
    *now = expired;
    absl::StatusOr<std::string> refused = core->Issue(csr, 0, "");
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StartsWith(refused.status().message(), "the CA certificate has expired"))
        << refused.status();
    EXPECT_EQ(PolicyRuleOf(refused.status()), "ca_expired");
  }
  // A day before it expires: capped at the CA's notAfter, still valid.
  *now = ca_not_after - absl::Hours(24);
  crypto::X509Ptr last = ParseCert(core->Issue(csr, 365, "").value());
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(last.get()), X509_get0_notAfter(ca.get())), 0);
  EXPECT_LT(ASN1_TIME_compare(X509_get0_notBefore(last.get()), X509_get0_notAfter(last.get())),
            0);
  // A clock (or CA) a minute off: never valid before the CA is.
  *now = ca_not_before + absl::Minutes(1);
  crypto::X509Ptr first = ParseCert(core->Issue(csr, 365, "").value());
  EXPECT_EQ(ASN1_TIME_compare(X509_get0_notBefore(first.get()), X509_get0_notBefore(ca.get())),
            0);
}

TEST(SignerCoreTest, SerialsDifferAndDigestIsHonoured) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  crypto::X509Ptr a = ParseCert(core->Issue(csr, 30, "sha512").value());
  crypto::X509Ptr b = ParseCert(core->Issue(csr, 30, "sha384").value());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.get()),
                             X509_get0_serialNumber(b.get())),
            0);
  EXPECT_EQ(X509_get_signature_nid(a.get()), NID_sha512WithRSAEncryption);
  EXPECT_EQ(X509_get_signature_nid(b.get()), NID_sha384WithRSAEncryption);
  EXPECT_EQ(core->Issue(csr, 0, "sha1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignerCoreTest, RefusesTamperedCsr) {
  auto core = NewFixtureCore();
  std::string csr = StrongswanCsr(*core);
  csr[csr.size() - 3] ^= 0x10;
  EXPECT_EQ(core->Issue(csr, 0, "").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(core->Issue("not der", 0, "").ok());
}

TEST(SignerCoreTest, DecryptRefusesEnvelopeForSomeoneElse) {
  auto core = NewFixtureCore();
  crypto::X509Ptr ca = Cert("ca.pem");
  std::string env = codec::Envelope("secret", ca.get(), "aes-128-cbc").value();
  EXPECT_EQ(core->Decrypt(env).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignerCoreTest, SignsOnlyCertReps) {
  auto core = NewFixtureCore();
  codec::ScepAttributes attrs;
  attrs.message_type = codec::MessageType::kPkcsReq;  // forced to CertRep
  attrs.transaction_id = "abc";
  attrs.sender_nonce = std::string(16, 'x');
  attrs.pki_status = codec::PkiStatus::kPending;
  auto der = core->SignCertRep("", attrs, "sha256");
  ASSERT_TRUE(der.ok()) << der.status();
  auto msg = codec::ParsePkiMessage(*der).value();
  EXPECT_EQ(msg.attributes.message_type, codec::MessageType::kCertRep);
  EXPECT_TRUE(msg.signature_valid);
  attrs.pki_status.reset();
  EXPECT_FALSE(core->SignCertRep("", attrs, "sha256").ok());
}

TEST(SignerCoreTest, EcdsaCaIssues) {
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  ASSERT_NE(ec, nullptr);
  crypto::X509Ptr ca(X509_new());
  X509_set_version(ca.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(ca.get()), 7);
  X509_NAME* name = X509_get_subject_name(ca.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("EC CA"), -1, -1, 0);
  X509_set_issuer_name(ca.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(ca.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(ca.get()), 86400L * 3650);
  X509_set_pubkey(ca.get(), ec.get());
  ASSERT_GT(X509_sign(ca.get(), ec.get(), EVP_sha256()), 0);
  EVP_PKEY_up_ref(ec.get());
  X509_up_ref(ca.get());
  crypto::X509Ptr ca_copy(ca.get());
  auto core = SignerCore::New(SignerOptions{}, NewSoftwareKey(crypto::EvpPkeyPtr(ec.get())),
                              std::move(ca_copy), Key("ra.key"), Cert("ra.pem"));
  ASSERT_TRUE(core.ok()) << core.status();
  std::string csr = StrongswanCsr(**core);
  crypto::X509Ptr cert = ParseCert((*core)->Issue(csr, 0, "").value());
  EXPECT_EQ(X509_verify(cert.get(), ec.get()), 1);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  // The validity never outlives the CA.
  crypto::X509Ptr capped = ParseCert((*core)->Issue(csr, 3650, "").value());
  EXPECT_LE(ASN1_TIME_compare(X509_get0_notAfter(capped.get()),
                              X509_get0_notAfter(ca.get())),
            0);
}

TEST(SignerCoreTest, SignsCrlWithReasonsNumberAndAki) {
  auto core = NewFixtureCore();
  CrlParams params;
  params.number = 42;
  params.this_update = absl::FromUnixSeconds(1'800'000'000);
  params.next_update = params.this_update + absl::Hours(24);
  params.revoked.push_back({std::string("\x01\x02\x03", 3), params.this_update, 1});
  params.revoked.push_back({std::string("\x7f", 1), params.this_update, -1});
  auto der = core->SignCrl(params, "");
  ASSERT_TRUE(der.ok()) << der.status();
  auto crl = crypto::FromDer<crypto::X509CrlPtr>(*der, d2i_X509_CRL, "crl").value();
  crypto::X509Ptr ca = Cert("ca.pem");
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(revoked), 2);
  crypto::Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number.get()), 42);
  EXPECT_GE(X509_CRL_get_ext_by_NID(crl.get(), NID_authority_key_identifier, -1), 0);
  // reasonCode unspecified (0) is left out (RFC 5280 5.3.1: SHOULD be
  // absent); it was written. Others are written.
  params.revoked.push_back({std::string("\x05", 1), params.this_update, 0});
  auto reasons = core->SignCrl(params, "");
  ASSERT_TRUE(reasons.ok()) << reasons.status();
  auto with_reasons = crypto::FromDer<crypto::X509CrlPtr>(*reasons, d2i_X509_CRL, "crl").value();
  std::map<long, int> reason_of;  // serial -> reasonCode, -1 when absent
  for (int i = 0; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(with_reasons.get())); ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(with_reasons.get()), i);
    crypto::SslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> code(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    reason_of[ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(entry))] =
        code == nullptr ? -1 : static_cast<int>(ASN1_ENUMERATED_get(code.get()));
  }
  EXPECT_EQ(reason_of, (std::map<long, int>{{0x010203, 1}, {0x7f, -1}, {0x05, -1}}));
  params.revoked.pop_back();
  params.revoked[0].reason = 7;  // unused value in RFC 5280
  EXPECT_EQ(core->SignCrl(params, "").status().code(), absl::StatusCode::kInvalidArgument);
  params.revoked[0].reason = 1;
  params.next_update = params.this_update;
  EXPECT_FALSE(core->SignCrl(params, "").ok());
}

}  // namespace
}  // namespace scep::signer::testing

namespace scep::signer::testing {
namespace {

// The BasicOCSPResponse of an OCSP response `der`; null when it has none.
OcspBasicPtr BasicResponse(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (response == nullptr) return nullptr;
  return OcspBasicPtr(OCSP_response_get1_basic(response.get()));
}

// As in the CRL: no revocationReason for unspecified (0); it was written.
TEST(SignerCoreOcspTest, UnspecifiedReasonIsLeftOut) {
  std::unique_ptr<SignerCore> core = NewFixtureCore();
  OcspParams params;
  params.this_update = absl::FromUnixSeconds(1'800'000'000);
  params.next_update = params.this_update + absl::Hours(1);
  params.statuses = {{"\x40\x01", OcspStatus::Kind::kRevoked, params.this_update, 0},
                     {"\x40\x02", OcspStatus::Kind::kRevoked, params.this_update, 1},
                     {"\x40\x03", OcspStatus::Kind::kRevoked, params.this_update, -1}};
  absl::StatusOr<std::string> der = core->SignOcsp(params);
  ASSERT_TRUE(der.ok()) << der.status();
  OcspBasicPtr basic = BasicResponse(*der);
  ASSERT_NE(basic, nullptr);
  ASSERT_EQ(OCSP_resp_count(basic.get()), 3);
  std::vector<int> reasons;
  for (int i = 0; i < 3; ++i) {
    int reason = -2;
    EXPECT_EQ(OCSP_single_get0_status(OCSP_resp_get0(basic.get(), i), &reason, nullptr, nullptr,
                                      nullptr),
              V_OCSP_CERTSTATUS_REVOKED);
    reasons.push_back(reason);
  }
  EXPECT_EQ(reasons, (std::vector<int>{-1, 1, -1}));
}

// A relying party as FreeRADIUS is one: a store holding only the CA and no
// untrusted certificates; OpenSSL looks for the signer among the answer's
// certificates (without the CA in them: "signer certificate not found").
TEST(SignerCoreOcspTest, VerifiesWithOnlyTheCaInTheStore) {
  std::unique_ptr<SignerCore> core = NewFixtureCore();
  OcspParams params;
  params.this_update = absl::FromUnixSeconds(1'800'000'000);
  params.next_update = params.this_update + absl::Hours(1);
  params.statuses = {{"\x40\x01", OcspStatus::Kind::kGood, absl::InfinitePast(), -1}};
  absl::StatusOr<std::string> der = core->SignOcsp(params);
  ASSERT_TRUE(der.ok()) << der.status();
  OcspBasicPtr basic = BasicResponse(*der);
  ASSERT_NE(basic, nullptr);
  crypto::X509Ptr ca = Cert("ca.pem");
  crypto::X509StorePtr store(X509_STORE_new());
  ASSERT_EQ(X509_STORE_add_cert(store.get(), ca.get()), 1);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()),
                             absl::ToTimeT(params.this_update));
  EXPECT_EQ(OCSP_basic_verify(basic.get(), nullptr, store.get(), 0), 1);
  // The CA certificate, and nothing else.
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(basic.get());
  ASSERT_EQ(sk_X509_num(certs), 1);
  EXPECT_EQ(X509_cmp(sk_X509_value(certs, 0), ca.get()), 0);
}

// RFC 8954: the request's nonce extnValue comes back byte for byte.
TEST(SignerCoreOcspTest, EchoesTheNonce) {
  std::unique_ptr<SignerCore> core = NewFixtureCore();
  crypto::SslPtr<OCSP_REQUEST, OCSP_REQUEST_free> request(OCSP_REQUEST_new());
  ASSERT_EQ(OCSP_request_add1_nonce(request.get(), nullptr, 32), 1);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(OCSP_REQUEST_get_ext(
      request.get(), OCSP_REQUEST_get_ext_by_NID(request.get(), NID_id_pkix_OCSP_Nonce, -1)));
  OcspParams params;
  params.this_update = absl::FromUnixSeconds(1'800'000'000);
  params.next_update = params.this_update + absl::Hours(1);
  params.statuses = {{"\x40\x01", OcspStatus::Kind::kGood, absl::InfinitePast(), -1}};
  params.nonce.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                      static_cast<size_t>(ASN1_STRING_length(value)));
  ASSERT_EQ(params.nonce.size(), kMaxOcspNonceValue);
  absl::StatusOr<std::string> der = core->SignOcsp(params);
  ASSERT_TRUE(der.ok()) << der.status();
  OcspBasicPtr basic = BasicResponse(*der);
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(OCSP_check_nonce(request.get(), basic.get()), 1);
  params.nonce.push_back('\0');
  EXPECT_EQ(core->SignOcsp(params).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SignerCoreOcspTest, RefusesWhatAnOcspResponseCannotSay) {
  std::unique_ptr<SignerCore> core = NewFixtureCore();
  OcspParams params;
  params.this_update = absl::FromUnixSeconds(1'800'000'000);
  params.next_update = params.this_update + absl::Hours(1);
  params.statuses = {{"\x40\x01", OcspStatus::Kind::kRevoked, params.this_update, 1}};
  EXPECT_TRUE(core->SignOcsp(params).ok());
  auto code = [&](OcspParams p) { return core->SignOcsp(p).status().code(); };
  OcspParams bad = params;
  bad.cert_id_digest = "md5";
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = params;
  bad.statuses.assign(17, params.statuses[0]);
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = params;
  bad.statuses[0].reason = 7;  // unused in RFC 5280
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = params;
  bad.statuses[0].serial = "";
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
  bad = params;
  bad.next_update = params.this_update - absl::Seconds(1);
  EXPECT_EQ(code(bad), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::signer::testing
