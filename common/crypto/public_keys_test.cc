#include "common/crypto/public_keys.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <string>
#include <thread>
#include <vector>

#include "common/crypto/der.h"
#include "gtest/gtest.h"

namespace scep::crypto {
namespace {

EvpPkeyPtr NewRsa() { return EvpPkeyPtr(EVP_RSA_gen(2048)); }
EvpPkeyPtr NewEc() { return EvpPkeyPtr(EVP_EC_gen("P-256")); }

std::string Spki(EVP_PKEY* key) { return ToDer(key, i2d_PUBKEY).value(); }

std::string SignedRequest(EVP_PKEY* key) {
  X509ReqPtr req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("device"), -1, -1, 0);
  EXPECT_EQ(X509_REQ_set_pubkey(req.get(), key), 1);
  EXPECT_GT(X509_REQ_sign(req.get(), key, EVP_sha256()), 0);
  return ToDer(req.get(), i2d_X509_REQ).value();
}

std::string SelfSigned(EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("device"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  EXPECT_EQ(X509_set_pubkey(cert.get(), key), 1);
  EXPECT_GT(X509_sign(cert.get(), key, EVP_sha256()), 0);
  return ToDer(cert.get(), i2d_X509).value();
}

// Envelope `text` to `recipient` (PKCS#1 v1.5 key transport) and open it
// with `key`.
std::string RoundTrip(X509* recipient, EVP_PKEY* key, const std::string& text) {
  X509StackPtr recipients(sk_X509_new_null());
  X509_up_ref(recipient);
  sk_X509_push(recipients.get(), recipient);
  BioPtr in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  CmsPtr cms(CMS_encrypt(recipients.get(), in.get(), EVP_aes_128_cbc(), CMS_BINARY));
  if (cms == nullptr) return "<encrypt failed>";
  BioPtr out(BIO_new(BIO_s_mem()));
  if (CMS_decrypt(cms.get(), key, nullptr, nullptr, out.get(), CMS_BINARY) != 1) {
    return "<decrypt failed>";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

TEST(PublicKeysTest, SamePublicKeyComparesAlgorithmAndKeyBits) {
  EvpPkeyPtr rsa = NewRsa(), other = NewRsa(), ec = NewEc();
  absl::StatusOr<X509Ptr> cert = ParseCertificate(SelfSigned(rsa.get()));
  absl::StatusOr<X509ReqPtr> same = ParseRequestWithoutKey(SignedRequest(rsa.get()));
  absl::StatusOr<X509ReqPtr> different =
      ParseRequestWithoutKey(SignedRequest(other.get()));
  absl::StatusOr<X509ReqPtr> ec_req = ParseRequestWithoutKey(SignedRequest(ec.get()));
  ASSERT_TRUE(cert.ok() && same.ok() && different.ok() && ec_req.ok());
  const X509_PUBKEY* cert_key = X509_get_X509_PUBKEY(cert->get());
  EXPECT_TRUE(SamePublicKey(cert_key, X509_REQ_get_X509_PUBKEY(same->get())));
  EXPECT_FALSE(SamePublicKey(cert_key, X509_REQ_get_X509_PUBKEY(different->get())));
  EXPECT_FALSE(SamePublicKey(cert_key, X509_REQ_get_X509_PUBKEY(ec_req->get())));
  EXPECT_FALSE(SamePublicKey(cert_key, nullptr));
  EXPECT_FALSE(SamePublicKey(nullptr, nullptr));
}

TEST(PublicKeysTest, KeylessContextExistsAndIsStable) {
  ASSERT_NE(KeylessContext(), nullptr);
  EXPECT_EQ(KeylessContext(), KeylessContext());
}

TEST(PublicKeysTest, RequestParsesWithoutItsKeyAndVerifiesWithTheDecodedOne) {
  EvpPkeyPtr rsa = NewRsa();
  const std::string der = SignedRequest(rsa.get());
  absl::StatusOr<X509ReqPtr> req = ParseRequestWithoutKey(der);
  ASSERT_TRUE(req.ok()) << req.status();
  // OpenSSL's opportunistic decode was skipped...
  EXPECT_EQ(X509_REQ_get0_pubkey(req->get()), nullptr);
  // ...nothing else changed: same encoding, same key bits.
  EXPECT_EQ(ToDer(req->get(), i2d_X509_REQ).value(), der);
  absl::StatusOr<EvpPkeyPtr> key = DecodePublicKey(X509_REQ_get_X509_PUBKEY(req->get()));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(EVP_PKEY_eq(key->get(), rsa.get()), 1);
  EXPECT_EQ(X509_REQ_verify(req->get(), key->get()), 1);
  // And a different key does not verify it.
  EvpPkeyPtr other = NewRsa();
  EXPECT_NE(X509_REQ_verify(req->get(), other.get()), 1);
}

TEST(PublicKeysTest, RequestRejectsMalformedAndTrailingBytes) {
  EXPECT_EQ(ParseRequestWithoutKey("\x30\x03\x02\x01").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRequestWithoutKey("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EvpPkeyPtr ec = NewEc();
  std::string der = SignedRequest(ec.get());
  absl::StatusOr<X509ReqPtr> trailing = ParseRequestWithoutKey(der + "x");
  EXPECT_EQ(trailing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(trailing.status().message()).find("trailing"), std::string::npos);
}

TEST(PublicKeysTest, CertificateCarriesItsRsaKeyWhichEncryptsAndVerifies) {
  EvpPkeyPtr rsa = NewRsa();
  const std::string der = SelfSigned(rsa.get());
  absl::StatusOr<X509Ptr> cert = ParseCertificate(der);
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_NE(X509_get0_pubkey(cert->get()), nullptr);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert->get()), rsa.get()), 1);
  // Same certificate: encoding, issuer and serial (the envelope's rid).
  EXPECT_EQ(ToDer(cert->get(), i2d_X509).value(), der);
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(cert->get())), 4242);
  EXPECT_EQ(EVP_PKEY_get0_provider(X509_get0_pubkey(cert->get())), nullptr);  // legacy-type
  EXPECT_EQ(RoundTrip(cert->get(), rsa.get(), "issued certificate"), "issued certificate");
  // Its self-signature verifies with that key (re-encoded TBS, same bytes).
  EXPECT_EQ(X509_verify(cert->get(), X509_get0_pubkey(cert->get())), 1);
  // RSAES-OAEP works with it too.
  CmsPtr cms(CMS_encrypt(nullptr, nullptr, EVP_aes_128_cbc(), CMS_BINARY | CMS_PARTIAL));
  CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms.get(), cert->get(), CMS_KEY_PARAM);
  ASSERT_NE(ri, nullptr);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(CMS_RecipientInfo_get0_pkey_ctx(ri),
                                         RSA_PKCS1_OAEP_PADDING), 1);
  BioPtr in(BIO_new_mem_buf("oaep", 4));
  ASSERT_EQ(CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY), 1);
  X509_ALGOR* algorithm = nullptr;
  ASSERT_EQ(CMS_RecipientInfo_ktri_get0_algs(ri, nullptr, nullptr, &algorithm), 1);
  EXPECT_EQ(OBJ_obj2nid(algorithm->algorithm), NID_rsaesOaep);
  BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(CMS_decrypt(cms.get(), rsa.get(), nullptr, nullptr, out.get(), CMS_BINARY), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  EXPECT_EQ(std::string(data, static_cast<size_t>(len)), "oaep");
}

// CMS SignedData over `text` by `key`/`cert_der`, RSASSA-PSS when `pss`.
std::string SignedData(EVP_PKEY* key, const std::string& cert_der, bool pss,
                       const std::string& text) {
  X509Ptr signer = FromDer<X509Ptr>(cert_der, d2i_X509, "cert").value();
  BioPtr in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOCERTS;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), signer.get(), key, EVP_sha256(),
                                       flags | (pss ? CMS_KEY_PARAM : 0));
  if (si == nullptr) return "";
  if (pss && EVP_PKEY_CTX_set_rsa_padding(CMS_SignerInfo_get0_pkey_ctx(si),
                                          RSA_PKCS1_PSS_PADDING) != 1) {
    return "";
  }
  if (CMS_final(cms.get(), in.get(), nullptr, flags) != 1) return "";
  return ToDer(cms.get(), i2d_CMS_ContentInfo).value();
}

TEST(PublicKeysTest, CertificateKeyVerifiesPkcs1AndPssSignedData) {
  EvpPkeyPtr rsa = NewRsa();
  const std::string der = SelfSigned(rsa.get());
  for (bool pss : {false, true}) {
    std::string message = SignedData(rsa.get(), der, pss, "pkiMessage content");
    ASSERT_FALSE(message.empty()) << pss;
    absl::StatusOr<X509Ptr> cert = ParseCertificate(der);
    ASSERT_TRUE(cert.ok()) << cert.status();
    ASSERT_EQ(EVP_PKEY_get0_provider(X509_get0_pubkey(cert->get())), nullptr);
    X509StackPtr certs(sk_X509_new_null());
    X509_up_ref(cert->get());
    sk_X509_push(certs.get(), cert->get());
    CmsPtr cms = FromDer<CmsPtr>(message, d2i_CMS_ContentInfo, "cms").value();
    EXPECT_EQ(CMS_verify(cms.get(), certs.get(), nullptr, nullptr, nullptr,
                         CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY), 1)
        << (pss ? "PSS" : "PKCS#1 v1.5");
    // A flipped signature bit fails with the same key.
    std::string bad = message;
    bad[bad.size() - 10] ^= 0x01;  // inside the signature (the last field)
    CmsPtr tampered = FromDer<CmsPtr>(bad, d2i_CMS_ContentInfo, "cms").value();
    EXPECT_NE(CMS_verify(tampered.get(), certs.get(), nullptr, nullptr, nullptr,
                         CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY), 1)
        << (pss ? "PSS" : "PKCS#1 v1.5");
  }
}

TEST(PublicKeysTest, CertificateWithAnotherKeyTypeTakesTheFullParse) {
  EvpPkeyPtr ec = NewEc();
  const std::string der = SelfSigned(ec.get());
  absl::StatusOr<X509Ptr> cert = ParseCertificate(der);
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_NE(X509_get0_pubkey(cert->get()), nullptr);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert->get()), ec.get()), 1);
  EXPECT_EQ(EVP_PKEY_get0_provider(X509_get0_pubkey(cert->get())) != nullptr, true);
}

TEST(PublicKeysTest, CertificateThatDoesNotReencodeTakesTheFullParse) {
  EvpPkeyPtr rsa = NewRsa();
  const std::string der = SelfSigned(rsa.get());
  // The outer length in a non-minimal long form: valid BER, not DER.
  ASSERT_EQ(static_cast<unsigned char>(der[1]), 0x82);
  std::string ber = der.substr(0, 1) + std::string("\x83\x00", 2) + der.substr(2);
  absl::StatusOr<X509Ptr> cert = ParseCertificate(ber);
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_NE(X509_get0_pubkey(cert->get()), nullptr);
  EXPECT_NE(EVP_PKEY_get0_provider(X509_get0_pubkey(cert->get())), nullptr);  // d2i_X509's
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert->get()), rsa.get()), 1);
}

TEST(PublicKeysTest, CertificateRejectsMalformedAndTrailingBytes) {
  EXPECT_EQ(ParseCertificate("\x30\x03\x02\x01").status().code(),
            absl::StatusCode::kInvalidArgument);
  EvpPkeyPtr rsa = NewRsa();
  absl::StatusOr<X509Ptr> trailing =
      ParseCertificate(SelfSigned(rsa.get()) + "x");
  EXPECT_EQ(trailing.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PublicKeysTest, OneThreadDecoderServesEveryKeyTypeInTurn) {
  EvpPkeyPtr rsa = NewRsa();
  EvpPkeyPtr ec = NewEc();
  EvpPkeyPtr rsa2 = NewRsa();
  for (EVP_PKEY* want : {rsa.get(), ec.get(), rsa2.get(), ec.get(), rsa.get()}) {
    absl::StatusOr<EvpPkeyPtr> got = DecodePublicKey(Spki(want));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(EVP_PKEY_eq(got->get(), want), 1);
  }
}

TEST(PublicKeysTest, DecodeRejectsGarbageAndTrailingBytesAndStaysUsable) {
  EXPECT_EQ(DecodePublicKey(std::string("\x30\x03\x02\x01\x01", 5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePublicKey(std::string()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EvpPkeyPtr rsa = NewRsa();
  EXPECT_EQ(DecodePublicKey(Spki(rsa.get()) + "xy").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The thread's decoder still works after the failures.
  absl::StatusOr<EvpPkeyPtr> again = DecodePublicKey(Spki(rsa.get()));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(EVP_PKEY_eq(again->get(), rsa.get()), 1);
}

TEST(PublicKeysTest, ThreadsDecodeConcurrentlyEachWithItsOwnDecoder) {
  std::vector<EvpPkeyPtr> keys;
  std::vector<std::string> spkis;
  for (int i = 0; i < 4; ++i) {
    keys.push_back(i % 2 == 0 ? NewRsa() : NewEc());
    spkis.push_back(Spki(keys.back().get()));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const size_t k = static_cast<size_t>((t + i) % 4);
        absl::StatusOr<EvpPkeyPtr> got = DecodePublicKey(spkis[k]);
        if (!got.ok() || EVP_PKEY_eq(got->get(), keys[k].get()) != 1) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace scep::crypto
