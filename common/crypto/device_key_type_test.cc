#include "common/crypto/device_key_type.h"

#include <string>

#include "absl/strings/match.h"
#include "common/crypto/public_keys.h"
#include "common/crypto/test_pki.h"
#include "gtest/gtest.h"

namespace scep::crypto {
namespace {

// `key` as a request carries it: its SubjectPublicKeyInfo, decoded again.
EvpPkeyPtr AsReceived(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  EXPECT_GT(length, 0);
  absl::StatusOr<EvpPkeyPtr> decoded = DecodePublicKey(
      absl::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(length)));
  OPENSSL_free(der);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *std::move(decoded) : nullptr;
}

std::string Text(const absl::StatusOr<std::string>& type) {
  return type.ok() ? *type : "error: " + std::string(type.status().message());
}

// The type, read from the decoded key and from its SubjectPublicKeyInfo's
// DER (the fast path requests and certificates take): the same answer.
std::string TypeOf(EVP_PKEY* key) {
  const std::string from_key = Text(DeviceKeyType(AsReceived(key).get()));
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key, &der);
  const unsigned char* p = der;
  X509_PUBKEY* spki = d2i_X509_PUBKEY(nullptr, &p, length);
  OPENSSL_free(der);
  EXPECT_NE(spki, nullptr);
  const std::string from_spki = Text(DeviceKeyType(X509_PUBKEY_get0(spki), spki));
  X509_PUBKEY_free(spki);
  EXPECT_EQ(from_spki, from_key);
  return from_key;
}

TEST(DeviceKeyTypeTest, NamesTheTypesProfilesAllow) {
  EvpPkeyPtr rsa(EVP_RSA_gen(2048));
  EXPECT_EQ(TypeOf(rsa.get()), "rsa");
  EXPECT_EQ(TypeOf(testing::EcKey("P-256").get()), "ec-p256");
  EXPECT_EQ(TypeOf(testing::EcKey("prime256v1").get()), "ec-p256");
  EXPECT_EQ(TypeOf(testing::EcKey("P-384").get()), "ec-p384");
  EvpPkeyPtr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_EQ(TypeOf(ed.get()), "ed25519");
}

// Before, the type was "ec-p" and the key's size: any 256-bit curve was
// ec-p256, and explicit parameters matching P-256 were too.
TEST(DeviceKeyTypeTest, OtherCurvesOfTheSameSizeAreNotP256OrP384) {
  EXPECT_EQ(TypeOf(testing::EcKey("secp256k1").get()), "ec-secp256k1");
  EXPECT_EQ(TypeOf(testing::EcKey("brainpoolP256r1").get()), "ec-brainpoolP256r1");
  EXPECT_EQ(TypeOf(testing::EcKey("brainpoolP384r1").get()), "ec-brainpoolP384r1");
  for (const char* curve : {"P-256", "P-384", "brainpoolP256r1"}) {
    const std::string type = TypeOf(testing::EcKey(curve, /*explicit_parameters=*/true).get());
    EXPECT_TRUE(absl::StartsWith(type, "error: EC key with explicit curve parameters"))
        << curve << ": " << type;
  }
}

// RSA public exponent 3 (or any even or small one) was accepted.
TEST(DeviceKeyTypeTest, RsaExponentMustBeOddAndAtLeast65537) {
  EXPECT_EQ(TypeOf(testing::RsaKey(2048, 65537).get()), "rsa");
  EXPECT_EQ(TypeOf(testing::RsaKey(2048, 65539).get()), "rsa");
  for (unsigned long e : {3ul, 17ul, 257ul}) {
    const std::string type = TypeOf(testing::RsaKey(2048, e).get());
    EXPECT_EQ(type, "error: RSA key with public exponent " + std::to_string(e) +
                        " (an odd exponent of at least 65537 only)");
  }
  // A certificate's key, decoded the legacy way (crypto::ParseCertificate),
  // is judged the same.
  EvpPkeyPtr e3 = testing::RsaKey(2048, 3);
  unsigned char* der = nullptr;
  const int length = i2d_PublicKey(e3.get(), &der);
  const unsigned char* p = der;
  EvpPkeyPtr legacy(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, length));
  OPENSSL_free(der);
  ASSERT_NE(legacy, nullptr);
  EXPECT_EQ(DeviceKeyType(legacy.get()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace scep::crypto
