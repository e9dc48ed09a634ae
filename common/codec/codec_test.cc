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
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/codec/pki_message.h"
#include "common/crypto/der.h"
#include "common/crypto/providers.h"
#include "gtest/gtest.h"

namespace scep::codec {
namespace {

std::string ReadFile(const std::string& name) {
  std::ifstream in(std::string(SCEP_TESTDATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

crypto::X509Ptr LoadCert(const std::string& name) {
  std::string pem = ReadFile(name);
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

crypto::EvpPkeyPtr LoadKey(const std::string& name) {
  std::string pem = ReadFile(name);
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return crypto::EvpPkeyPtr(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

class CodecTest : public ::testing::Test {
 protected:
  // micromdm scepclient sends single DES, which OpenSSL 3 keeps in the
  // legacy provider: loaded into a library context of its own, as the
  // services do, so these tests prove the codec finds it there.
  static inline crypto::LegacyProviders* legacy_ = nullptr;

  static void SetUpTestSuite() { legacy_ = new crypto::LegacyProviders(); }
  static void TearDownTestSuite() {
    delete legacy_;
    legacy_ = nullptr;
  }
  void SetUp() override {
    ra_cert_ = LoadCert("ra.pem");
    ra_key_ = LoadKey("ra.key");
    ca_cert_ = LoadCert("ca.pem");
    ca_key_ = LoadKey("ca.key");
    ASSERT_NE(ra_cert_, nullptr);
    ASSERT_NE(ra_key_, nullptr);
  }
  crypto::X509Ptr ra_cert_, ca_cert_;
  crypto::EvpPkeyPtr ra_key_, ca_key_;
};

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

TEST_F(CodecTest, SingleDesComesFromTheLegacyContextOnly) {
  ASSERT_TRUE(legacy_->legacy_loaded());
  // The default context stays free of the legacy provider...
  EVP_CIPHER* from_default = EVP_CIPHER_fetch(nullptr, "des-cbc", nullptr);
  EXPECT_EQ(from_default, nullptr);
  EVP_CIPHER_free(from_default);
  ERR_clear_error();
  // ...and single DES still works both ways through its own context.
  absl::StatusOr<std::string> env = Envelope("old client", ra_cert_.get(), "des-cbc");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(EnvelopeCipher(*env).value_or(""), "des-cbc");
  EXPECT_EQ(Decrypt(*env, ra_cert_.get(), ra_key_.get()).value_or(""), "old client");
  EXPECT_EQ(Envelope("x", ra_cert_.get(), "no-such-cipher").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CodecTest, RecipientIsNamedByIssuerAndSerial) {
  // The RA certificate re-issued for the same key (scep-provision --renew-ra):
  // a device still holding the old one names the old serial, which Decrypt
  // with the new certificate does not accept; IsRecipient tells them apart.
  crypto::X509Ptr renewed(X509_dup(ra_cert_.get()));
  ASSERT_NE(renewed, nullptr);
  ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(renewed.get()), 4242), 1);
  ASSERT_GT(X509_sign(renewed.get(), ca_key_.get(), EVP_sha256()), 0);
  absl::StatusOr<std::string> to_old = Envelope("csr", ra_cert_.get(), "aes-128-cbc");
  ASSERT_TRUE(to_old.ok()) << to_old.status();
  EXPECT_TRUE(IsRecipient(*to_old, ra_cert_.get()).value_or(false));
  EXPECT_FALSE(IsRecipient(*to_old, renewed.get()).value_or(true));
  EXPECT_FALSE(IsRecipient(*to_old, ca_cert_.get()).value_or(true));
  EXPECT_FALSE(Decrypt(*to_old, renewed.get(), ra_key_.get()).ok());
  EXPECT_EQ(Decrypt(*to_old, ra_cert_.get(), ra_key_.get()).value_or(""), "csr");
  EXPECT_EQ(IsRecipient("not DER", ra_cert_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> degenerate = DegenerateCertificates({ra_cert_.get()});
  ASSERT_TRUE(degenerate.ok());
  EXPECT_EQ(IsRecipient(*degenerate, ra_cert_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CodecTest, KeyTransportAlgorithmReadFromTheDer) {
  absl::StatusOr<std::string> pkcs1 = Envelope("csr", ra_cert_.get(), "aes-128-cbc");
  absl::StatusOr<std::string> oaep =
      Envelope("csr", ra_cert_.get(), "aes-256-cbc", /*rsa_oaep=*/true);
  ASSERT_TRUE(pkcs1.ok() && oaep.ok());
  EXPECT_EQ(KeyTransportAlgorithm(*pkcs1).value_or(0), NID_rsaEncryption);
  EXPECT_EQ(KeyTransportAlgorithm(*oaep).value_or(0), NID_rsaesOaep);
  // Malformed or cut short anywhere: InvalidArgument, never a read past the end.
  for (size_t cut = 0; cut < pkcs1->size(); cut += 7) {
    EXPECT_FALSE(KeyTransportAlgorithm(pkcs1->substr(0, cut)).ok()) << cut;
  }
  EXPECT_EQ(KeyTransportAlgorithm("not DER").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A SignedData is not an EnvelopedData with key transport.
  absl::StatusOr<std::string> degenerate = DegenerateCertificates({ra_cert_.get()});
  ASSERT_TRUE(degenerate.ok());
  EXPECT_FALSE(KeyTransportAlgorithm(*degenerate).ok());
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

// The DER certificate the SignerInfo of `der` names, as OpenSSL finds it.
std::string SignerCertificateDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (cms == nullptr || CMS_set1_signers_certs(cms.get(), nullptr, 0) < 1) return "";
  X509* signer = nullptr;
  CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0),
                           nullptr, &signer, nullptr, nullptr);
  return signer == nullptr ? "" : crypto::ToDer(signer, i2d_X509).value();
}

TEST_F(CodecTest, CertificatesParsedApartGiveTheSameSignerAndVerdict) {
  for (const char* file : {"scepclient-pkcsreq-post.der", "strongswan-pkcsreq-aes-sha256.der",
                           "strongswan-renewalreq-aes-sha256.der"}) {
    std::string der = ReadFile(file);
    absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
    ASSERT_TRUE(msg.ok()) << file << ": " << msg.status();
    EXPECT_TRUE(msg->signature_valid) << file;
    ASSERT_NE(msg->signer_certificate, nullptr);
    EXPECT_EQ(crypto::ToDer(msg->signer_certificate.get(), i2d_X509).value(),
              SignerCertificateDer(der))
        << file;
    // Parsed apart: its RSA key came from the legacy decoder, not OpenSSL's
    // provider decoder (crypto::ParseCertificate).
    EVP_PKEY* key = X509_get0_pubkey(msg->signer_certificate.get());
    ASSERT_NE(key, nullptr) << file;
    EXPECT_EQ(EVP_PKEY_get0_provider(key), nullptr) << file;
  }
}

TEST_F(CodecTest, ExtraCertificatesInTheMessageStillFindTheSigner) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  const std::string signer = SignerCertificateDer(der);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(cms, nullptr);
  ASSERT_EQ(CMS_add1_cert(cms.get(), ca_cert_.get()), 1);  // before and after don't matter
  const std::string two = crypto::ToDer(cms.get(), i2d_CMS_ContentInfo).value();
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(two);
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_TRUE(msg->signature_valid);
  EXPECT_EQ(crypto::ToDer(msg->signer_certificate.get(), i2d_X509).value(), signer);
}

TEST_F(CodecTest, BerMessageTakesOpenSslsOwnParse) {
  // The outer SEQUENCE with an indefinite length: valid BER, which the
  // certificate split leaves to OpenSSL.
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  ASSERT_EQ(static_cast<unsigned char>(der[1]), 0x82);
  std::string ber = std::string("\x30\x80", 2) + der.substr(4) + std::string(2, '\0');
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(ber);
  ASSERT_TRUE(msg.ok()) << msg.status();
  EXPECT_TRUE(msg->signature_valid);
  EXPECT_NE(EVP_PKEY_get0_provider(X509_get0_pubkey(msg->signer_certificate.get())), nullptr);
  EXPECT_EQ(crypto::ToDer(msg->signer_certificate.get(), i2d_X509).value(),
            SignerCertificateDer(der));
}

TEST_F(CodecTest, MalformedCertificateInTheMessageIsInvalid) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  const std::string signer = SignerCertificateDer(der);
  size_t at = der.find(signer);
  ASSERT_NE(at, std::string::npos);
  // Breaks the certificate's own first field (its TBSCertificate tag).
  der[at + 4] = '\x05';
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  EXPECT_EQ(msg.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CodecTest, TamperedContentFailsSignature) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok());
  size_t at = der.find(msg->content);
  ASSERT_NE(at, std::string::npos);
  der[at + msg->content.size() - 5] ^= 0x01;  // inside the ciphertext
  absl::StatusOr<PkiMessage> tampered = ParsePkiMessage(der);
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  EXPECT_FALSE(tampered->signature_valid);
}

// jscep (BouncyCastle) and Apple send the pkcsPKIEnvelope in BER with
// indefinite lengths: the DER walks cannot read it, its DER re-encoding can,
// and it decrypts to the same content.
TEST_F(CodecTest, BerEnvelopeIsReadOnceReencodedAsDer) {
  crypto::EvpPkeyPtr key(EVP_RSA_gen(2048));
  crypto::X509Ptr self = SelfSignedCertificate(key.get(), "ber").value();
  PkcsReqSpec spec;
  spec.transaction_id = "tid-ber";
  spec.sender_nonce = std::string(16, 'b');
  spec.cipher = "aes-256-cbc";
  spec.ber_envelope = true;
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(
      BuildPkcsReq("csr bytes", self.get(), key.get(), ra_cert_.get(), spec).value());
  ASSERT_TRUE(msg.ok()) << msg.status();
  ASSERT_GE(msg->content.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(msg->content[1]), 0x80);  // indefinite length
  EXPECT_FALSE(EnvelopeCipher(msg->content).ok());
  absl::StatusOr<std::string> der = EnvelopeAsDer(msg->content);
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_EQ(EnvelopeCipher(*der).value_or(""), "aes-256-cbc");
  EXPECT_EQ(KeyTransportAlgorithm(*der).value_or(0), NID_rsaEncryption);
  EXPECT_EQ(Decrypt(*der, ra_cert_.get(), ra_key_.get()).value_or(""), "csr bytes");
  // Not an envelope: refused.
  EXPECT_FALSE(EnvelopeAsDer(DegenerateCertificates({ra_cert_.get()}).value()).ok());
  EXPECT_FALSE(EnvelopeAsDer("garbage").ok());
}

TEST_F(CodecTest, OaepAndEcdhEnvelopesDecrypt) {
  absl::StatusOr<std::string> oaep =
      Envelope("oaep payload", ra_cert_.get(), "aes-256-cbc", /*rsa_oaep=*/true);
  ASSERT_TRUE(oaep.ok()) << oaep.status();
  EXPECT_NE(oaep->find(std::string("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x07", 9)),
            std::string::npos);  // id-RSAES-OAEP
  EXPECT_EQ(Decrypt(*oaep, ra_cert_.get(), ra_key_.get()).value_or(""), "oaep payload");
  // An EC device certificate gets ECDH key agreement (kari).
  crypto::EvpPkeyPtr ec(EVP_EC_gen("P-256"));
  crypto::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ec"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), ec.get());
  ASSERT_GT(X509_sign(cert.get(), ec.get(), EVP_sha256()), 0);
  absl::StatusOr<std::string> kari = Envelope("ec payload", cert.get(), "aes-128-cbc");
  ASSERT_TRUE(kari.ok()) << kari.status();
  EXPECT_EQ(Decrypt(*kari, cert.get(), ec.get()).value_or(""), "ec payload");
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

TEST_F(CodecTest, UnknownRecipientIsRefused) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok());
  // Encrypted to the RA only; the CA certificate is not a recipient.
  absl::StatusOr<std::string> plain =
      Decrypt(msg->content, ca_cert_.get(), ca_key_.get());
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CodecTest, EveryTruncationIsAnErrorNotACrash) {
  std::string der = ReadFile("strongswan-pkcsreq-aes-sha256.der");
  absl::StatusOr<PkiMessage> msg = ParsePkiMessage(der);
  ASSERT_TRUE(msg.ok());
  for (size_t n = 0; n < der.size(); n += 7) {
    EXPECT_FALSE(ParsePkiMessage(der.substr(0, n)).ok()) << n;
  }
  for (size_t n = 0; n < msg->content.size(); n += 3) {
    EXPECT_FALSE(EnvelopeCipher(msg->content.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(ParseCsr("\x30\x03\x02\x01").ok());
  EXPECT_FALSE(ParseDegenerateCertificates("garbage").ok());
}

TEST_F(CodecTest, NonSignedDataIsInvalid) {
  absl::StatusOr<std::string> env =
      Envelope("hello", ra_cert_.get(), "aes-128-cbc");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(ParsePkiMessage(*env).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::codec
