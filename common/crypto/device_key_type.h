#ifndef SCEP_COMMON_CRYPTO_DEVICE_KEY_TYPE_H_
#define SCEP_COMMON_CRYPTO_DEVICE_KEY_TYPE_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "absl/status/statusor.h"

namespace scep::crypto {

// The type of a device's public key by the names profiles (`key_types`) and
// issuance policies (`allowed_key_types`) use: "rsa"; "ec-p256" and
// "ec-p384" for the named curves P-256 (prime256v1) and P-384 (secp384r1)
// only, not any curve of that size; "ec-" and the curve's OpenSSL name for
// another named curve ("ec-secp256k1", "ec-brainpoolP256r1"), which no
// configuration can allow; the algorithm's OpenSSL name in lower case for
// anything else ("ed25519").
//
// InvalidArgument, saying why, for a key no configuration may allow: an
// RSA key whose public exponent is even or below 65537 (e = 3 leaves
// PKCS#1 v1.5 signatures open to forgery where verifiers are lax, and no
// current device generates it), or an EC key given with explicit curve
// parameters (RFC 5480 section 2.1.1: specifiedCurve MUST NOT be used;
// OpenSSL reports the group name of the named curve the parameters match,
// so the size or the name alone would pass). Thread-safe.
//
// With `spki`, the SubjectPublicKeyInfo `key` was decoded from (the CSR's
// or certificate's), the exponent and the curve are read from its DER:
// OpenSSL 3.0's parameter queries (EVP_PKEY_get_bn_param,
// EVP_PKEY_get_utf8_string_param) cost ~60 k instructions a key, a twentieth
// of the gateway's work per enrollment. Same answers either way.
absl::StatusOr<std::string> DeviceKeyType(EVP_PKEY* key, const X509_PUBKEY* spki = nullptr);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_DEVICE_KEY_TYPE_H_
