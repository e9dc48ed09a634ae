// codec::ParseCsr and VerifyCsrSignature on a real client's request: the
// strongSwan PKCSReq fixture, decrypted with the test RA key.

#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/ssl_ptr.h"
#include "gtest/gtest.h"

namespace scep::codec {
namespace {

std::string Testdata(const std::string& name) {
  return std::string(SCEP_TESTDATA_DIR) + "/" + name;
}

class CsrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ra_cert_ = crypto::LoadCertificateFile(Testdata("ra.pem")).value();
    ra_key_ = crypto::LoadPrivateKeyFile(Testdata("ra.key")).value();
  }

  static std::string ReadFile(const std::string& name) {
    std::ifstream in(Testdata(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  crypto::X509Ptr ra_cert_;
  crypto::EvpPkeyPtr ra_key_;
};

TEST_F(CsrTest, CsrWithBadSignatureIsPermissionDenied) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok());
  std::string csr = Decrypt(msg->content, ra_cert_.get(), ra_key_.get()).value();
  ASSERT_TRUE(ParseCsr(csr).ok());
  csr[csr.size() - 2] ^= 0x40;  // last bytes belong to the signature
  EXPECT_EQ(ParseCsr(csr).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(CsrTest, CsrTakesTheKeyOfACertificateHoldingItsKey) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok());
  std::string csr_der = Decrypt(msg->content, ra_cert_.get(), ra_key_.get()).value();
  // strongSwan signs the PKCSReq with a self-signed certificate of the
  // CSR's key: that key object serves.
  absl::StatusOr<Csr> csr = ParseCsr(csr_der, msg->signer_certificate.get());
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_EQ(csr->public_key.get(), X509_get0_pubkey(msg->signer_certificate.get()));
  absl::StatusOr<Csr> plain = ParseCsr(csr_der);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(csr->fingerprint, plain->fingerprint);
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key.get(), plain->public_key.get()), 1);
  // Another key's certificate: the CSR's own key is decoded.
  absl::StatusOr<Csr> other = ParseCsr(csr_der, ra_cert_.get());
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->public_key.get(), X509_get0_pubkey(ra_cert_.get()));
  EXPECT_EQ(EVP_PKEY_eq(other->public_key.get(), plain->public_key.get()), 1);
  // The signature is still checked with the shared key.
  EXPECT_TRUE(csr->signature_checked);
  EXPECT_EQ(csr->der, csr_der);
  csr_der[csr_der.size() - 2] ^= 0x40;
  EXPECT_EQ(ParseCsr(csr_der, msg->signer_certificate.get()).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Unless the caller says that key signed the message: then it is left to
  // VerifyCsrSignature, and only when the keys are the same.
  absl::StatusOr<Csr> deferred = ParseCsr(csr_der, msg->signer_certificate.get(),
                                          CsrSignature::kUnlessSignedWithItsKey);
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_FALSE(deferred->signature_checked);
  EXPECT_EQ(VerifyCsrSignature(*deferred).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(deferred->signature_checked);
  EXPECT_EQ(ParseCsr(csr_der, ra_cert_.get(), CsrSignature::kUnlessSignedWithItsKey)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ParseCsr(csr_der, nullptr, CsrSignature::kUnlessSignedWithItsKey)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  csr_der[csr_der.size() - 2] ^= 0x40;  // intact again
  deferred = ParseCsr(csr_der, msg->signer_certificate.get(),
                      CsrSignature::kUnlessSignedWithItsKey);
  ASSERT_TRUE(deferred.ok());
  EXPECT_TRUE(VerifyCsrSignature(*deferred).ok());
  EXPECT_TRUE(deferred->signature_checked);
}


// A CSR whose challengePassword is `bytes` with ASN.1 type `type`, as a
// client could send it.
std::string CsrWithRawChallenge(EVP_PKEY* key, int type, const std::string& bytes) {
  crypto::X509ReqPtr req(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("d"), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  // (An odd-length BMPString, or a UniversalString not a multiple of 4
  // bytes, is refused by OpenSSL's DER decoder before this code sees it.)
  ASN1_STRING* value = ASN1_STRING_type_new(type);
  ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size()));
  X509_ATTRIBUTE* attr = X509_ATTRIBUTE_create(NID_pkcs9_challengePassword, type, value);
  EXPECT_NE(attr, nullptr);
  EXPECT_EQ(X509_REQ_add1_attr(req.get(), attr), 1);
  X509_ATTRIBUTE_free(attr);
  EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
  unsigned char* out = nullptr;
  int len = i2d_X509_REQ(req.get(), &out);
  std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

// challengePassword is a DirectoryString (RFC 2985 5.4.1): whatever the
// encoding, the text compared with the secret is its UTF-8.
TEST(CsrChallengeTest, EveryDirectoryStringEncodingGivesTheSameUtf8) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  const std::string secret = "P\xc3\xa4ssw\xc3\xb6rd-\xe2\x98\x83";  // "Pässwörd-☃"
  for (int type : {0, V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING}) {
    CsrSpec spec;
    spec.common_name = "d";
    spec.challenge = secret;
    spec.challenge_type = type;
    absl::StatusOr<Csr> csr = ParseCsr(BuildCsr(key.get(), spec).value());
    ASSERT_TRUE(csr.ok()) << type << ": " << csr.status();
    ASSERT_TRUE(csr->challenge_password.has_value());
    EXPECT_EQ(*csr->challenge_password, secret) << type;
  }
  // BMPString as Windows writes it: UTF-16BE, here "Ab\u00e9".
  absl::StatusOr<Csr> bmp = ParseCsr(
      CsrWithRawChallenge(key.get(), V_ASN1_BMPSTRING, std::string("\0A\0b\0\xe9", 6)));
  ASSERT_TRUE(bmp.ok()) << bmp.status();
  EXPECT_EQ(*bmp->challenge_password, "Ab\xc3\xa9");
  // TeletexString is read as Latin-1, as OpenSSL reads it.
  absl::StatusOr<Csr> t61 =
      ParseCsr(CsrWithRawChallenge(key.get(), V_ASN1_T61STRING, "caf\xe9"));
  ASSERT_TRUE(t61.ok()) << t61.status();
  EXPECT_EQ(*t61->challenge_password, "caf\xc3\xa9");
  // PrintableString and IA5String as they are.
  EXPECT_EQ(*ParseCsr(CsrWithRawChallenge(key.get(), V_ASN1_IA5STRING, "s3cret"))
                 .value()
                 .challenge_password,
            "s3cret");
}

// Two passwords (two attributes, or one attribute with two values): which
// one a check reads would be up to the code reading it. Refused.
TEST(CsrChallengeTest, MoreThanOneChallengePasswordIsRefused) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  for (bool two_attributes : {true, false}) {
    crypto::X509ReqPtr req(X509_REQ_new());
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("d"), -1, -1, 0);
    X509_REQ_set_pubkey(req.get(), key.get());
    X509_ATTRIBUTE* attr = X509_ATTRIBUTE_create_by_NID(
        nullptr, NID_pkcs9_challengePassword, V_ASN1_UTF8STRING,
        reinterpret_cast<const unsigned char*>("wrong"), 5);
    ASSERT_NE(attr, nullptr);
    if (!two_attributes) {
      ASSERT_EQ(X509_ATTRIBUTE_set1_data(attr, V_ASN1_UTF8STRING,
                                         reinterpret_cast<const unsigned char*>("right"), 5),
                1);
    }
    ASSERT_EQ(X509_REQ_add1_attr(req.get(), attr), 1);
    X509_ATTRIBUTE_free(attr);
    if (two_attributes) {
      // OpenSSL 3 will not add a second one; a client's encoder may. An
      // unstructuredName (1.2.840.113549.1.9.2) renamed challengePassword
      // (.9.7) in the DER, decoded and signed again, is that request.
      ASSERT_EQ(X509_REQ_add1_attr_by_NID(req.get(), NID_pkcs9_unstructuredName,
                                          V_ASN1_UTF8STRING,
                                          reinterpret_cast<const unsigned char*>("right"), 5),
                1);
      ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
      std::string der = crypto::ToDer(req.get(), i2d_X509_REQ).value();
      const std::string unstructured("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x02", 11);
      const size_t at = der.find(unstructured);
      ASSERT_NE(at, std::string::npos);
      der[at + 10] = '\x07';
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      req.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
      ASSERT_NE(req, nullptr);
    }
    ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
    absl::StatusOr<Csr> csr = ParseCsr(crypto::ToDer(req.get(), i2d_X509_REQ).value());
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument) << two_attributes;
    EXPECT_EQ(csr.status().message(), "more than one challengePassword");
  }
}

TEST(CsrChallengeTest, BrokenOrNonTextChallengeIsRefusedWithItsType) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  struct Case {
    int type;
    std::string bytes;
    const char* expected;
  };
  const Case cases[] = {
      {V_ASN1_BMPSTRING, std::string("\xd8\x00\0A", 4), "not a valid BMPString"},  // a surrogate
      {V_ASN1_UNIVERSALSTRING, std::string("\0\x11\0\0", 4),  // past U+10FFFF
       "not a valid UniversalString"},
      {V_ASN1_UTF8STRING, "ab\xc3", "not a valid UTF8String"},
      {V_ASN1_OCTET_STRING, "s3cret", "wrong type"},
      {V_ASN1_INTEGER, "\x01", "wrong type"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Csr> csr = ParseCsr(CsrWithRawChallenge(key.get(), c.type, c.bytes));
    ASSERT_FALSE(csr.ok()) << c.expected;
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(csr.status().message(), c.expected))
        << csr.status().message();
    EXPECT_TRUE(absl::StrContains(csr.status().message(), "challengePassword"));
  }
}


crypto::X509NamePtr Name(std::initializer_list<std::pair<const char*, std::pair<int, std::string>>> entries) {
  crypto::X509NamePtr name(X509_NAME_new());
  for (const auto& [type, value] : entries) {
    // value: (ASN.1 type, UTF-8 text), encoded as that type.
    ASN1_STRING* encoded = nullptr;
    EXPECT_GE(ASN1_mbstring_copy(&encoded, reinterpret_cast<const unsigned char*>(value.second.data()),
                                 static_cast<int>(value.second.size()), MBSTRING_UTF8,
                                 ASN1_tag2bit(value.first)),
              0);
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name.get(), type, value.first,
                                         ASN1_STRING_get0_data(encoded),
                                         ASN1_STRING_length(encoded), -1, 0),
              1);
    ASN1_STRING_free(encoded);
  }
  return name;
}

// The per-subject key: one subject whatever the string type, ASCII case
// and spacing (as X509_NAME_cmp sees it); another attribute, value or
// order is another subject.
TEST(SubjectDigestTest, CanonicalLikeX509NameCmp) {
  const int kP = V_ASN1_PRINTABLESTRING, kU = V_ASN1_UTF8STRING, kB = V_ASN1_BMPSTRING;
  auto reference = Name({{"CN", {kP, "Dev 7"}}, {"O", {kU, "Fleet"}}});
  const std::string key = SubjectDigestHex(reference.get());
  ASSERT_EQ(key.size(), 64u);
  for (const auto& same : {Name({{"CN", {kU, "Dev 7"}}, {"O", {kU, "Fleet"}}}),
                           Name({{"CN", {kB, "dev 7"}}, {"O", {kB, "FLEET"}}}),
                           Name({{"CN", {kU, "  dev   7 "}}, {"O", {kP, "fleet"}}})}) {
    EXPECT_EQ(X509_NAME_cmp(same.get(), reference.get()), 0);
    EXPECT_EQ(SubjectDigestHex(same.get()), key);
  }
  for (const auto& other : {Name({{"CN", {kU, "Dev 8"}}, {"O", {kU, "Fleet"}}}),
                            Name({{"CN", {kU, "Dev7"}}, {"O", {kU, "Fleet"}}}),
                            Name({{"O", {kU, "Fleet"}}, {"CN", {kU, "Dev 7"}}}),
                            Name({{"CN", {kU, "Dev 7"}}, {"OU", {kU, "Fleet"}}}),
                            Name({{"CN", {kU, "Dev 7Fleet"}}}),
                            Name({{"CN", {kU, "D\xc3\xa9v 7"}}, {"O", {kU, "Fleet"}}})}) {
    EXPECT_NE(SubjectDigestHex(other.get()), key);
  }
}


TEST(SubjectDigestTest, SameAttributesInAnyOrder) {
  const int kP = V_ASN1_PRINTABLESTRING, kU = V_ASN1_UTF8STRING, kB = V_ASN1_BMPSTRING;
  auto device = Name({{"O", {kP, "Example Fleet"}}, {"CN", {kP, "laptop-7"}}});
  EXPECT_TRUE(SameAttributes(Name({{"CN", {kU, "Laptop-7"}}, {"O", {kB, "example  fleet"}}}).get(),
                             device.get()));
  EXPECT_TRUE(SameAttributes(device.get(), device.get()));
  EXPECT_FALSE(SameAttributes(Name({{"CN", {kU, "laptop-7"}}}).get(), device.get()));
  EXPECT_FALSE(SameAttributes(
      Name({{"CN", {kU, "laptop-7"}}, {"O", {kU, "Example Fleet"}}, {"OU", {kU, "x"}}}).get(),
      device.get()));
  EXPECT_FALSE(SameAttributes(Name({{"CN", {kU, "Example Fleet"}}, {"O", {kU, "laptop-7"}}}).get(),
                              device.get()));
}

// One subjectAltName, read the same way by the gateway's policy and the
// signer: a second extension, a second extensionRequest, or names that do
// not decode make the request ambiguous, never "no names".
TEST(RequestedSubjectAltNameTest, OneOrNoneElseRefused) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  auto names = [](const char* conf) {
    crypto::ExtStackPtr exts(sk_X509_EXTENSION_new_null());
    for (absl::string_view one : absl::StrSplit(conf, ';', absl::SkipEmpty())) {
      sk_X509_EXTENSION_push(exts.get(),
                             X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                                 std::string(one).c_str()));
    }
    return exts;
  };
  auto der = [&](const char* conf) {
    unsigned char* out = nullptr;
    const int length = ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(names(conf).get()), &out,
                                     ASN1_ITEM_rptr(X509_EXTENSIONS));
    std::string bytes(reinterpret_cast<char*>(out), static_cast<size_t>(std::max(length, 0)));
    OPENSSL_free(out);
    return bytes;
  };
  // extensionRequest attributes {NID, values}. OpenSSL refuses to add a
  // second attribute of one type; a device can still send two values, or
  // both the PKCS#9 and the Microsoft type, both of which OpenSSL reads.
  auto request = [&](std::vector<std::pair<int, std::vector<const char*>>> attributes) {
    crypto::X509ReqPtr req(X509_REQ_new());
    X509_REQ_set_pubkey(req.get(), key.get());
    for (const auto& [nid, values] : attributes) {
      X509_ATTRIBUTE* attr = X509_ATTRIBUTE_new();
      EXPECT_EQ(X509_ATTRIBUTE_set1_object(attr, OBJ_nid2obj(nid)), 1);
      for (const char* conf : values) {
        const std::string value = der(conf);
        EXPECT_EQ(X509_ATTRIBUTE_set1_data(attr, V_ASN1_SEQUENCE, value.data(),
                                           static_cast<int>(value.size())),
                  1);
      }
      EXPECT_EQ(X509_REQ_add1_attr(req.get(), attr), 1);
      X509_ATTRIBUTE_free(attr);
    }
    return req;
  };
  auto none = RequestedSubjectAltName(request({}).get());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr);
  auto one = RequestedSubjectAltName(request({{NID_ext_req, {"DNS:a.example,DNS:b.example"}}}).get());
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(sk_GENERAL_NAME_num(one->get()), 2);
  for (const auto& ambiguous :
       std::vector<std::vector<std::pair<int, std::vector<const char*>>>>{
           {{NID_ext_req, {"DNS:a.example;DNS:b.example"}}},
           {{NID_ext_req, {"DNS:a.example", "DNS:b.example"}}},
           {{NID_ext_req, {"DNS:a.example"}}, {NID_ms_ext_req, {"DNS:b.example"}}}}) {
    auto refused = RequestedSubjectAltName(request(ambiguous).get());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(refused.status().message(), "more than one"))
        << refused.status();
  }
}

}  // namespace
}  // namespace scep::codec
