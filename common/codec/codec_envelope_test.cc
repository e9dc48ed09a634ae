// The pkcsPKIEnvelope: ciphers (single DES from the legacy context only),
// recipients, key transport algorithms, BER, RSA-OAEP and ECDH.

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  EXPECT_EQ(EnvelopeCipher(msg->content).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> der = EnvelopeAsDer(msg->content);
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_EQ(EnvelopeCipher(*der).value_or(""), "aes-256-cbc");
  EXPECT_EQ(KeyTransportAlgorithm(*der).value_or(0), NID_rsaEncryption);
  EXPECT_EQ(Decrypt(*der, ra_cert_.get(), ra_key_.get()).value_or(""), "csr bytes");
  // Not an envelope: refused.
  EXPECT_FALSE(EnvelopeAsDer(DegenerateCertificates({ra_cert_.get()}).value()).ok());
  EXPECT_FALSE(EnvelopeAsDer("garbage").ok());
}

// A well-formed envelope of a cipher the gateway does not decrypt is
// Unimplemented (answered badAlg), naming the algorithm; a malformed one
// stays InvalidArgument (badMessageCheck). Before, both were the latter.
TEST_F(CodecTest, UnsupportedCipherIsUnimplementedAndMalformedIsInvalid) {
  for (const char* cipher : {"rc2-cbc", "camellia-128-cbc"}) {
    absl::StatusOr<std::string> env = Envelope("csr", ra_cert_.get(), cipher);
    ASSERT_TRUE(env.ok()) << cipher << ": " << env.status();
    absl::StatusOr<std::string> named = EnvelopeCipher(*env);
    EXPECT_EQ(named.status().code(), absl::StatusCode::kUnimplemented) << cipher;
    EXPECT_EQ(named.status().message(),
              absl::StrCat("content-encryption algorithm ", cipher, " is not supported"));
    // Cut short: malformed, whatever its cipher.
    EXPECT_EQ(EnvelopeCipher(env->substr(0, env->size() - 1)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cipher;
  }
  // AES-GCM makes an AuthEnvelopedData (RFC 5083).
  absl::StatusOr<std::string> gcm = Envelope("csr", ra_cert_.get(), "aes-128-gcm");
  ASSERT_TRUE(gcm.ok()) << gcm.status();
  absl::StatusOr<std::string> named = EnvelopeCipher(*gcm);
  EXPECT_EQ(named.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(named.status().message(), "AuthEnvelopedData"));
  EXPECT_TRUE(EnvelopeAsDer(*gcm).ok());
  // Not an envelope at all.
  EXPECT_EQ(EnvelopeCipher(DegenerateCertificates({ra_cert_.get()}).value()).status().code(),
            absl::StatusCode::kInvalidArgument);
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

}  // namespace
}  // namespace scep::codec
