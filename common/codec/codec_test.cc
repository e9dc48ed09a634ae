// The codec against requests real clients sent (tests/testdata), CertRep
// round trips and identifiers. Parsing and signer checks:
// codec_message_test.cc; envelopes: codec_envelope_test.cc.

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/codec/client.h"
#include "common/codec/codec_test_fixture.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/providers.h"
#include "gtest/gtest.h"

namespace scep::codec {
namespace {

using testing::CodecTest;
using testing::LoadCert;
using testing::LoadKey;
using testing::ReadFile;

struct FixtureCase {
  const char* file;
  const char* digest;
  const char* cipher;
  const char* subject_part;
};

class ClientFixtureTest : public CodecTest,
                          public ::testing::WithParamInterface<FixtureCase> {};

TEST_P(ClientFixtureTest, ParsesVerifiesAndDecrypts) {
  const FixtureCase& c = GetParam();
  std::string der = ReadFile(c.file);
  ASSERT_FALSE(der.empty());
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_EQ(msg->attributes.message_type, MessageType::kPkcsReq);
  EXPECT_TRUE(msg->signature_valid);
  EXPECT_EQ(msg->digest, c.digest);
  EXPECT_FALSE(msg->attributes.transaction_id.empty());
  EXPECT_EQ(msg->attributes.sender_nonce.size(), 16u);
  absl::StatusOr<std::string> cipher = EnvelopeCipher(msg->content);
  ASSERT_TRUE(cipher.ok()) << cipher.status();
  EXPECT_EQ(*cipher, c.cipher);
  // Real clients use PKCS#1 v1.5 key transport.
  EXPECT_EQ(KeyTransportAlgorithm(msg->content).value_or(0), NID_rsaEncryption);

  absl::StatusOr<std::string> plain =
      Decrypt(msg->content, ra_cert_.get(), ra_key_.get());
  ASSERT_TRUE(plain.ok()) << plain.status();
  absl::StatusOr<Csr> csr = ParseCsr(*plain);
  ASSERT_TRUE(csr.ok()) << csr.status();
  ASSERT_TRUE(csr->challenge_password.has_value());
  EXPECT_EQ(*csr->challenge_password, "fixture-secret");
  EXPECT_NE(SubjectText(X509_REQ_get_subject_name(csr->request.get()))
                .find(c.subject_part),
            std::string::npos);
  EXPECT_EQ(csr->fingerprint.size(), 32u);
}

INSTANTIATE_TEST_SUITE_P(
    RealClients, ClientFixtureTest,
    ::testing::Values(
        FixtureCase{"scepclient-pkcsreq-post.der", "sha1", "des-cbc",
                    "CN=fixture-scepclient"},
        FixtureCase{"strongswan-pkcsreq-aes-sha256.der", "sha256",
                    "aes-128-cbc", "fixture-strongswan"},
        FixtureCase{"strongswan-pkcsreq-aes-sha512.der", "sha512",
                    "aes-128-cbc", "CN="},
        FixtureCase{"strongswan-pkcsreq-des3-sha256.der", "sha256",
                    "des-ede3-cbc", "CN="}));

TEST_F(CodecTest, RenewalFixtureIsSignedByIssuedCertificate) {
  absl::StatusOr<PkiMessage> msg =
      ParsePkiMessage(ReadFile("strongswan-renewalreq-aes-sha256.der"));
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_EQ(msg->attributes.message_type, MessageType::kRenewalReq);
  EXPECT_TRUE(msg->signature_valid);
  crypto::X509Ptr issued = LoadCert("strongswan-issued.pem");
  EXPECT_EQ(X509_cmp(msg->signer_certificate.get(), issued.get()), 0);
}

TEST_F(CodecTest, CertRepRoundTrip) {
  crypto::X509Ptr device = LoadCert("strongswan-issued.pem");
  absl::StatusOr<std::string> degenerate =
      DegenerateCertificates({device.get(), ca_cert_.get()});
  ASSERT_TRUE(degenerate.ok()) << degenerate.status();
  for (const char* cipher : {"aes-128-cbc", "aes-256-cbc", "des-ede3-cbc"}) {
    absl::StatusOr<std::string> env =
        Envelope(*degenerate, ra_cert_.get(), cipher);
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(EnvelopeCipher(*env).value_or(""), cipher);
    for (const char* digest : {"sha256", "sha384", "sha512", "sha1"}) {
      ScepAttributes attrs;
      attrs.message_type = MessageType::kCertRep;
      attrs.transaction_id = "tid-123";
      attrs.sender_nonce = std::string(16, '\x01');
      attrs.recipient_nonce = std::string(16, '\x02');
      attrs.pki_status = PkiStatus::kSuccess;
      absl::StatusOr<std::string> der =
          SignPkiMessage(*env, attrs, ra_cert_.get(), ra_key_.get(), digest);
      ASSERT_TRUE(der.ok()) << der.status();
      absl::StatusOr<PkiMessage> parsed = ParsePkiMessage(*der);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_TRUE(parsed->signature_valid);
      EXPECT_EQ(parsed->digest, digest);
      EXPECT_EQ(parsed->attributes.message_type, MessageType::kCertRep);
      EXPECT_EQ(parsed->attributes.transaction_id, "tid-123");
      EXPECT_EQ(parsed->attributes.recipient_nonce, std::string(16, '\x02'));
      EXPECT_EQ(parsed->attributes.pki_status, PkiStatus::kSuccess);
      EXPECT_FALSE(parsed->attributes.fail_info.has_value());
      absl::StatusOr<std::string> plain =
          Decrypt(parsed->content, ra_cert_.get(), ra_key_.get());
      ASSERT_TRUE(plain.ok()) << plain.status();
      auto certs = ParseDegenerateCertificates(*plain);
      ASSERT_TRUE(certs.ok()) << certs.status();
      ASSERT_EQ(certs->size(), 2u);
      // certificates is a SET OF: DER order, not insertion order.
      int found = 0;
      for (const auto& cert : *certs) found += X509_cmp(cert.get(), device.get()) == 0;
      EXPECT_EQ(found, 1);
    }
  }
}

TEST_F(CodecTest, SignatureValueIdentifiesTheSignedMessage) {
  ScepAttributes attrs;
  attrs.message_type = MessageType::kPkcsReq;
  attrs.transaction_id = "tid-sig";
  attrs.sender_nonce = std::string(16, '\x05');
  const std::string first =
      SignPkiMessage("content", attrs, ra_cert_.get(), ra_key_.get(), "sha256").value();
  attrs.sender_nonce = std::string(16, '\x06');
  const std::string other =
      SignPkiMessage("content", attrs, ra_cert_.get(), ra_key_.get(), "sha256").value();
  absl::StatusOr<PkiMessage> a = ParsePkiMessage(first);
  absl::StatusOr<PkiMessage> again = ParsePkiMessage(first);
  absl::StatusOr<PkiMessage> b = ParsePkiMessage(other);
  ASSERT_TRUE(a.ok() && again.ok() && b.ok());
  EXPECT_EQ(a->signature.size(), static_cast<size_t>(EVP_PKEY_get_size(ra_key_.get())));
  EXPECT_EQ(a->signature, again->signature);
  EXPECT_NE(a->signature, b->signature);
}

// A messageType no known type (a later draft's, or garbage) still parses:
// the gateway answers it with a signed FAILURE badRequest, not HTTP 400.
TEST_F(CodecTest, UnknownMessageTypeIsKeptAsSent) {
  ScepAttributes attrs;
  attrs.message_type = static_cast<MessageType>(23);
  attrs.transaction_id = "tid-type";
  attrs.sender_nonce = std::string(16, '\x07');
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(
      SignPkiMessage("content", attrs, ra_cert_.get(), ra_key_.get(), "sha256").value());
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_EQ(static_cast<int>(msg->attributes.message_type), 23);
  EXPECT_FALSE(IsKnownMessageType(msg->attributes.message_type));
  EXPECT_EQ(MessageTypeName(msg->attributes.message_type), "unknown");
  EXPECT_TRUE(IsKnownMessageType(MessageType::kRenewalReq));
}

TEST_F(CodecTest, CertRepSignerInfoUsesRsaEncryption) {
  // strongSwan refuses sha256WithRSAEncryption in a CertRep SignerInfo.
  ScepAttributes attrs;
  attrs.message_type = MessageType::kCertRep;
  attrs.transaction_id = "t";
  attrs.sender_nonce = std::string(16, 'n');
  attrs.pki_status = PkiStatus::kFailure;
  attrs.fail_info = FailInfo::kBadRequest;
  attrs.fail_info_text = "challenge password is wrong";
  absl::StatusOr<std::string> der =
      SignPkiMessage("", attrs, ra_cert_.get(), ra_key_.get(), "sha256");
  ASSERT_TRUE(der.ok());
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  crypto::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, der->size()));
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
  X509_ALGOR* sig = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, nullptr, nullptr, &sig);
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, sig);
  EXPECT_EQ(OBJ_obj2nid(oid), NID_rsaEncryption);
  absl::StatusOr<PkiMessage> parsed = ParsePkiMessage(*der);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->attributes.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(parsed->attributes.fail_info_text, "challenge password is wrong");
  EXPECT_TRUE(parsed->content.empty());
}

TEST(SerialHexFromTextTest, AsPeopleCopyIt) {
  EXPECT_EQ(SerialHexFromText("4a:bc:01"), "4abc01");
  EXPECT_EQ(SerialHexFromText("4A BC 01"), "4abc01");
  EXPECT_EQ(SerialHexFromText(" 4A:BC:01\n"), "4abc01");
  EXPECT_EQ(SerialHexFromText("00:C4:0A"), "c40a");  // DER's sign octet
  EXPECT_EQ(SerialHexFromText("0A1B"), "0a1b");      // a leading digit is no octet
  EXPECT_EQ(SerialHexFromText("00"), "00");
  EXPECT_EQ(SerialHexFromText("00a"), "00a");
  EXPECT_EQ(SerialHexFromText("4g"), "4g");  // left for ValidateSerialHex
  EXPECT_EQ(SerialHexFromText(""), "");
  crypto::Asn1IntegerPtr serial(ASN1_INTEGER_new());
  ASSERT_EQ(ASN1_INTEGER_set_uint64(serial.get(), 0x4abc01), 1);
  EXPECT_EQ(SerialHexFromText("4A:BC:01"), SerialHex(serial.get()));
}

TEST_F(CodecTest, IdentifiersRoundTripAndRejectGarbage) {
  X509_NAME* issuer = X509_get_subject_name(ca_cert_.get());
  std::string ias = EncodeIssuerAndSerial(issuer, X509_get0_serialNumber(ra_cert_.get())).value();
  auto decoded = DecodeIssuerAndSerial(ias);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(X509_NAME_cmp(decoded->issuer.get(), issuer), 0);
  EXPECT_EQ(ASN1_INTEGER_cmp(decoded->serial.get(), X509_get0_serialNumber(ra_cert_.get())), 0);
  EXPECT_EQ(SerialHex(decoded->serial.get()), SerialHex(X509_get0_serialNumber(ra_cert_.get())));
  std::string iasub =
      EncodeIssuerAndSubject(issuer, X509_get_subject_name(ra_cert_.get())).value();
  auto both = DecodeIssuerAndSubject(iasub);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(X509_NAME_cmp(both->subject.get(), X509_get_subject_name(ra_cert_.get())), 0);
  for (size_t n = 0; n < iasub.size(); ++n) {
    EXPECT_FALSE(DecodeIssuerAndSubject(iasub.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < ias.size(); ++n) {
    EXPECT_FALSE(DecodeIssuerAndSerial(ias.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeIssuerAndSubject(iasub + "x").ok());
  crypto::Asn1IntegerPtr negative(ASN1_INTEGER_new());
  ASN1_INTEGER_set(negative.get(), -5);
  EXPECT_FALSE(DecodeIssuerAndSerial(EncodeIssuerAndSerial(issuer, negative.get()).value()).ok());
}

}  // namespace
}  // namespace scep::codec
