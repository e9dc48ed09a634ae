#include "common/crypto/device_key_type.h"

#include <openssl/core_names.h>
#include <openssl/objects.h>

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

absl::StatusOr<std::string> EcKeyType(EVP_PKEY* key, const std::optional<std::string>& named) {
  if (named.has_value() ? named->empty()
                        : EcParameter(key, OSSL_PKEY_PARAM_EC_ENCODING) !=
                              OSSL_PKEY_EC_ENCODING_GROUP) {
    return absl::InvalidArgumentError(
        "EC key with explicit curve parameters (RFC 5480: a named curve only)");
  }
  const std::string curve =
      named.has_value() ? *named : EcParameter(key, OSSL_PKEY_PARAM_GROUP_NAME);
  if (curve == "prime256v1" || curve == "P-256") return std::string("ec-p256");
  if (curve == "secp384r1" || curve == "P-384") return std::string("ec-p384");
  return absl::StrCat("ec-", curve.empty() ? "unknown-curve" : curve);
}

// The content of the DER element at the start of `der` if its tag is
// `tag` (definite length; short or long form up to 4 length octets), and
// `der` advanced past it; nullopt otherwise.
std::optional<absl::string_view> Element(absl::string_view& der, unsigned char tag) {
  if (der.size() < 2 || static_cast<unsigned char>(der[0]) != tag) return std::nullopt;
  size_t length = static_cast<unsigned char>(der[1]);
  size_t header = 2;
  if (length >= 0x80) {
    const size_t octets = length & 0x7f;
    if (octets == 0 || octets > 4 || der.size() < 2 + octets) return std::nullopt;
    length = 0;
    for (size_t i = 0; i < octets; ++i) {
      length = (length << 8) | static_cast<unsigned char>(der[2 + i]);
    }
    header += octets;
  }
  if (der.size() - header < length) return std::nullopt;
  absl::string_view content = der.substr(header, length);
  der.remove_prefix(header + length);
  return content;
}

// The public exponent of an RSAPublicKey (RFC 8017 A.1.1: SEQUENCE {
// modulus INTEGER, publicExponent INTEGER }) as the SubjectPublicKeyInfo
// carries it, big-endian without leading zeros; nullopt when it does not
// parse as one.
std::optional<BignumPtr> ExponentFromSpki(const X509_PUBKEY* spki) {
  const unsigned char* bits = nullptr;
  int length = 0;
  if (spki == nullptr ||
      X509_PUBKEY_get0_param(nullptr, &bits, &length, nullptr, spki) != 1 || length <= 0) {
    return std::nullopt;
  }
  absl::string_view der(reinterpret_cast<const char*>(bits), static_cast<size_t>(length));
  std::optional<absl::string_view> sequence = Element(der, 0x30);
  if (!sequence.has_value()) return std::nullopt;
  if (!Element(*sequence, 0x02).has_value()) return std::nullopt;  // modulus
  std::optional<absl::string_view> e = Element(*sequence, 0x02);
  if (!e.has_value() || e->empty() || (static_cast<unsigned char>((*e)[0]) & 0x80) != 0) {
    return std::nullopt;  // negative: let OpenSSL's reading decide
  }
  BignumPtr exponent(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                               static_cast<int>(e->size()), nullptr));
  if (exponent == nullptr) return std::nullopt;
  return exponent;
}

// The named curve of an EC SubjectPublicKeyInfo (its algorithm's
// parameters an OBJECT IDENTIFIER OpenSSL knows): its short name; ""
// when the parameters are explicit; nullopt when it cannot tell.
std::optional<std::string> NamedCurveFromSpki(const X509_PUBKEY* spki) {
  X509_ALGOR* algorithm = nullptr;
  if (spki == nullptr || X509_PUBKEY_get0_param(nullptr, nullptr, nullptr, &algorithm, spki) != 1 ||
      algorithm == nullptr) {
    return std::nullopt;
  }
  int parameter_type = 0;
  const void* parameter = nullptr;
  X509_ALGOR_get0(nullptr, &parameter_type, &parameter, algorithm);
  if (parameter_type == V_ASN1_SEQUENCE) return std::string();  // specifiedCurve
  if (parameter_type != V_ASN1_OBJECT) return std::nullopt;
  const int nid = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(parameter));
  const char* name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
  if (name == nullptr) return std::nullopt;
  return std::string(name);
}

absl::StatusOr<std::string> RsaKeyType(EVP_PKEY* key, const X509_PUBKEY* spki) {
  std::optional<BignumPtr> from_spki = ExponentFromSpki(spki);
  BignumPtr e;
  if (from_spki.has_value()) {
    e = *std::move(from_spki);
  } else {
    BIGNUM* exponent = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &exponent) != 1) {
      return SslInvalid("RSA key without a readable public exponent");
    }
    e.reset(exponent);
  }
  if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 17) {  // 65537 = 2^16 + 1
    OpenSslStringPtr text(BN_bn2dec(e.get()));
    return absl::InvalidArgumentError(
        absl::StrCat("RSA key with public exponent ", text != nullptr ? text.get() : "?",
                     " (an odd exponent of at least 65537 only)"));
  }
  return std::string("rsa");
}

}  // namespace

absl::StatusOr<std::string> DeviceKeyType(EVP_PKEY* key, const X509_PUBKEY* spki) {
  if (key == nullptr) return absl::InvalidArgumentError("no public key");
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_RSA:
      return RsaKeyType(key, spki);
    case EVP_PKEY_EC:
      return EcKeyType(key, NamedCurveFromSpki(spki));
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      return name != nullptr ? absl::AsciiStrToLower(name) : std::string("unknown");
    }
  }
}

}  // namespace scep::crypto
