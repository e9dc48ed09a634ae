#include "services/signer/signer_core.h"

#include <openssl/ec.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "gtest/gtest.h"
#include "services/signer/issuer.h"

namespace scep::signer {
namespace {

std::string Testdata(const std::string& name) {
  return std::string(SCEP_TESTDATA_DIR) + "/" + name;
}

std::string ReadFile(const std::string& name) {
  std::ifstream in(Testdata(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

crypto::X509Ptr Cert(const std::string& name) {
  return crypto::LoadCertificateFile(Testdata(name)).value();
}

std::unique_ptr<KeyAccess> Key(const std::string& name) {
  return NewSoftwareKey(crypto::LoadPrivateKeyFile(Testdata(name)).value());
}

std::unique_ptr<SignerCore> NewFixtureCore() {
  return SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"),
                         Key("ra.key"), Cert("ra.pem"))
      .value();
}

// The CSR inside the strongSwan capture (SAN fixture-strongswan...).
std::string StrongswanCsr(SignerCore& core) {
  auto msg = codec::ParsePkiMessage(ReadFile("strongswan-pkcsreq-aes-sha256.der"));
  return core.Decrypt(msg.value().content).value();
}

crypto::X509Ptr ParseCert(const std::string& der) {
  return crypto::FromDer<crypto::X509Ptr>(der, d2i_X509, "cert").value();
}

TEST(SignerCoreTest, RefusesCertificateThatDoesNotMatchKey) {
  auto core = SignerCore::New(SignerOptions{}, Key("ra.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem"));
  EXPECT_EQ(core.status().code(), absl::StatusCode::kFailedPrecondition);
}

// An RA certificate for `key` like ra.pem (same subject), serial `serial`,
// issued by the fixture CA.
crypto::X509Ptr RaCertificateFor(EVP_PKEY* key, long serial) {
  crypto::X509Ptr cert(X509_dup(Cert("ra.pem").get()));
  EXPECT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial), 1);
  EXPECT_EQ(X509_set_pubkey(cert.get(), key), 1);
  crypto::EvpPkeyPtr ca_key = crypto::LoadPrivateKeyFile(Testdata("ca.key")).value();
  EXPECT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  return cert;
}

TEST(SignerCoreTest, PreviousRaCertificateOfTheSameKeyIsAcceptedAfterRenewal) {
  crypto::EvpPkeyPtr ra_key = crypto::LoadPrivateKeyFile(Testdata("ra.key")).value();
  auto renewed_core = [&] {
    return SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                           RaCertificateFor(ra_key.get(), 777))
        .value();
  };
  crypto::X509Ptr old_ra = Cert("ra.pem");
  std::string to_old = codec::Envelope("csr-old", old_ra.get(), "aes-128-cbc").value();
  // Without it, a device holding the old certificate cannot enroll.
  EXPECT_EQ(renewed_core()->Decrypt(to_old).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::unique_ptr<SignerCore> core = renewed_core();
  ASSERT_TRUE(core->AcceptPreviousRa(Cert("ra.pem"), nullptr).ok());
  EXPECT_EQ(core->Decrypt(to_old).value_or(""), "csr-old");
  crypto::X509Ptr new_ra = ParseCert(core->ra_certificate_der());
  EXPECT_EQ(core->Decrypt(codec::Envelope("csr-new", new_ra.get(), "aes-256-cbc").value())
                .value_or(""),
            "csr-new");
  // The published RA certificate is still the new one.
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(new_ra.get())), 777);
}

TEST(SignerCoreTest, PreviousRaKeyDecryptsAfterKeyRollover) {
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  ASSERT_NE(new_key, nullptr);
  EVP_PKEY_up_ref(new_key.get());
  auto core = SignerCore::New(SignerOptions{}, Key("ca.key"), Cert("ca.pem"),
                              NewSoftwareKey(crypto::EvpPkeyPtr(new_key.get())),
                              RaCertificateFor(new_key.get(), 778))
                  .value();
  // The previous certificate is not of the new key: its own key is needed.
  EXPECT_EQ(core->AcceptPreviousRa(Cert("ra.pem"), nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(core->AcceptPreviousRa(Cert("ra.pem"), Key("ca.key")).code(),
            absl::StatusCode::kFailedPrecondition);
  crypto::X509Ptr old_ra = Cert("ra.pem");
  std::string to_old = codec::Envelope("csr-old", old_ra.get(), "aes-128-cbc").value();
  EXPECT_FALSE(core->Decrypt(to_old).ok());
  ASSERT_TRUE(core->AcceptPreviousRa(Cert("ra.pem"), Key("ra.key")).ok());
  EXPECT_EQ(core->Decrypt(to_old).value_or(""), "csr-old");
  crypto::X509Ptr new_ra = ParseCert(core->ra_certificate_der());
  EXPECT_EQ(core->Decrypt(codec::Envelope("csr-new", new_ra.get(), "aes-128-cbc").value())
                .value_or(""),
            "csr-new");
  // Malformed input is still refused, whichever RA it might be for.
  EXPECT_EQ(core->Decrypt("not DER").status().code(), absl::StatusCode::kInvalidArgument);
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
  params.revoked[0].reason = 7;  // unused value in RFC 5280
  EXPECT_EQ(core->SignCrl(params, "").status().code(), absl::StatusCode::kInvalidArgument);
  params.revoked[0].reason = 1;
  params.next_update = params.this_update;
  EXPECT_FALSE(core->SignCrl(params, "").ok());
}

// The certificates in `core`'s GetNextCACert answer, whose RA signature
// must verify (an empty list when it does not).
std::vector<crypto::X509Ptr> NextCaCertificates(const SignerCore& core) {
  auto cms = crypto::FromDer<crypto::CmsPtr>(core.next_ca_message(), d2i_CMS_ContentInfo,
                                             "msg");
  if (!cms.ok()) return {};
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  if (CMS_verify(cms->get(), nullptr, nullptr, nullptr, out.get(),
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  auto certs = codec::ParseDegenerateCertificates(std::string(data, len));
  return certs.ok() ? *std::move(certs) : std::vector<crypto::X509Ptr>{};
}

TEST(SignerCoreTest, NextCaMessageIsRaSignedAndCarriesTheNextCa) {
  SignerOptions options;
  options.next_ca_certificate = Cert("strongswan-issued.pem");  // any cert
  auto core = SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem")).value();
  ASSERT_FALSE(core->next_ca_message().empty());
  std::vector<crypto::X509Ptr> certs = NextCaCertificates(*core);
  ASSERT_EQ(certs.size(), 1u);
  EXPECT_EQ(X509_cmp(certs[0].get(), Cert("strongswan-issued.pem").get()), 0);
  EXPECT_TRUE(NewFixtureCore()->next_ca_message().empty());
}

TEST(SignerCoreTest, NextCaMessageCarriesTheNextRaWhenTheNextCaIssuedIt) {
  // The fixture CA issued the fixture RA: as a next CA and next RA pair.
  SignerOptions options;
  options.next_ca_certificate = Cert("ca.pem");
  options.next_ra_certificate = Cert("ra.pem");
  auto core = SignerCore::New(std::move(options), Key("ca.key"), Cert("ca.pem"),
                              Key("ra.key"), Cert("ra.pem")).value();
  std::vector<crypto::X509Ptr> certs = NextCaCertificates(*core);
  ASSERT_EQ(certs.size(), 2u);  // a SET: in DER order, not in ours
  for (const char* name : {"ca.pem", "ra.pem"}) {
    crypto::X509Ptr want = Cert(name);
    EXPECT_TRUE(X509_cmp(certs[0].get(), want.get()) == 0 ||
                X509_cmp(certs[1].get(), want.get()) == 0)
        << name;
  }

  // An RA certificate another CA issued, or one without a next CA: refused.
  SignerOptions foreign;
  foreign.next_ca_certificate = Cert("strongswan-issued.pem");
  foreign.next_ra_certificate = Cert("ra.pem");
  absl::StatusOr<std::unique_ptr<SignerCore>> refused = SignerCore::New(
      std::move(foreign), Key("ca.key"), Cert("ca.pem"), Key("ra.key"), Cert("ra.pem"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "not issued by the next CA"))
      << refused.status();
  SignerOptions alone;
  alone.next_ra_certificate = Cert("ra.pem");
  EXPECT_EQ(SignerCore::New(std::move(alone), Key("ca.key"), Cert("ca.pem"), Key("ra.key"),
                            Cert("ra.pem"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::signer

namespace scep::signer {
namespace {

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
}  // namespace scep::signer
