// codec::ParseCsr and VerifyCsrSignature on a real client's request: the
// strongSwan PKCSReq fixture, decrypted with the test RA key.

#include <fstream>
#include <iterator>
#include <string>

#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "common/crypto/pem.h"
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

}  // namespace
}  // namespace scep::codec
