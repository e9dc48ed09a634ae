// Parsing a pkiMessage and finding its signer: extra and malformed
// certificates, BER, tampering, truncation, unknown recipients.

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
