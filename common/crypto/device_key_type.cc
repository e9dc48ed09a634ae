#include "common/crypto/device_key_type.h"

#include <openssl/core_names.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {
namespace {

// An EC key's UTF-8 parameter `name` ("" when the key has none).
std::string EcParameter(EVP_PKEY* key, const char* name) {
  char value[80] = "";
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, name, value, sizeof(value), &length) != 1) {
    DrainSslErrors();
    return "";
  }
  return std::string(value, length);
}

absl::StatusOr<std::string> EcKeyType(EVP_PKEY* key) {
  if (EcParameter(key, OSSL_PKEY_PARAM_EC_ENCODING) != OSSL_PKEY_EC_ENCODING_GROUP) {
    return absl::InvalidArgumentError(
        "EC key with explicit curve parameters (RFC 5480: a named curve only)");
  }
  const std::string curve = EcParameter(key, OSSL_PKEY_PARAM_GROUP_NAME);
  if (curve == "prime256v1" || curve == "P-256") return std::string("ec-p256");
  if (curve == "secp384r1" || curve == "P-384") return std::string("ec-p384");
  return absl::StrCat("ec-", curve.empty() ? "unknown-curve" : curve);
}

absl::StatusOr<std::string> RsaKeyType(EVP_PKEY* key) {
  BIGNUM* exponent = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent) != 1) {
    return SslInvalid("RSA key without a readable public exponent");
  }
  BignumPtr e(exponent);
  if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 17) {  // 65537 = 2^16 + 1
    OpenSslStringPtr text(BN_bn2dec(e.get()));
    return absl::InvalidArgumentError(
        absl::StrCat("RSA key with public exponent ", text != nullptr ? text.get() : "?",
                     " (an odd exponent of at least 65537 only)"));
  }
  return std::string("rsa");
}

}  // namespace

absl::StatusOr<std::string> DeviceKeyType(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("no public key");
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_RSA:
      return RsaKeyType(key);
    case EVP_PKEY_EC:
      return EcKeyType(key);
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      return name != nullptr ? absl::AsciiStrToLower(name) : std::string("unknown");
    }
  }
}

}  // namespace scep::crypto
