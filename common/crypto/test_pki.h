#ifndef SCEP_COMMON_CRYPTO_TEST_PKI_H_
#define SCEP_COMMON_CRYPTO_TEST_PKI_H_

// Test-only: a small PKI made in the test (a CA, server and client
// certificates) for TLS tests, and PEM files of it.

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#include <string>
#include <utility>
#include <vector>

#include "common/crypto/ssl_ptr.h"
#include "gtest/gtest.h"

namespace scep::crypto::testing {

struct Identity {
  EvpPkeyPtr key;
  X509Ptr cert;
};

// A P-256 certificate for `cn` valid for an hour, signed by `issuer`
// (self-signed when null); `extensions` as OpenSSL's config strings, by
// NID (e.g. {NID_subject_alt_name, "DNS:redis.test,IP:127.0.0.1"}).
inline Identity Issue(const std::string& cn, const Identity* issuer,
                      std::vector<std::pair<int, std::string>> extensions) {
  Identity id;
  id.key.reset(EVP_EC_gen("P-256"));
  id.cert.reset(X509_new());
  X509* x = id.cert.get();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_pubkey(x, id.key.get());
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(x, issuer != nullptr ? issuer->key.get() : id.key.get(), EVP_sha256()), 0);
  return id;
}

// A fresh EC key on `group` ("P-256", "secp256k1", ...), with its curve
// as explicit parameters instead of the curve's name when asked (what
// `openssl ecparam -param_enc explicit` makes).
inline EvpPkeyPtr EcKey(const char* group, bool explicit_parameters = false) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EXPECT_EQ(EVP_PKEY_keygen_init(ctx.get()), 1);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_utf8_string(
          OSSL_PKEY_PARAM_EC_ENCODING,
          const_cast<char*>(explicit_parameters ? OSSL_PKEY_EC_ENCODING_EXPLICIT
                                                : OSSL_PKEY_EC_ENCODING_GROUP),
          0),
      OSSL_PARAM_construct_end()};
  EXPECT_EQ(EVP_PKEY_CTX_set_params(ctx.get(), params), 1) << group;
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_generate(ctx.get(), &key), 1) << group;
  return EvpPkeyPtr(key);
}

// A fresh RSA key of `bits` with public exponent `exponent`.
inline EvpPkeyPtr RsaKey(int bits, unsigned long exponent) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  BignumPtr e(BN_new());
  EXPECT_EQ(BN_set_word(e.get(), exponent), 1);
  EXPECT_EQ(EVP_PKEY_keygen_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e.get()), 1);
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_generate(ctx.get(), &key), 1) << exponent;
  return EvpPkeyPtr(key);
}

// The extensions of a CA certificate.
inline std::vector<std::pair<int, std::string>> CaExtensions() {
  return {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}};
}

inline void WritePemFile(const std::string& path, X509* cert) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  PEM_write_X509(f, cert);
  fclose(f);
}

// Unencrypted.
inline void WriteKeyFile(const std::string& path, EVP_PKEY* key) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
}

// The first URI of `cert`'s cRLDistributionPoints (first DistributionPoint,
// fullName) and of its authorityInfoAccess; "" when there is none.
inline std::string FirstCrlDistributionPoint(X509* cert) {
  CrlDistPointsPtr points(static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr)));
  if (points == nullptr || sk_DIST_POINT_num(points.get()) == 0) return "";
  DIST_POINT* point = sk_DIST_POINT_value(points.get(), 0);
  if (point->distpoint == nullptr || point->distpoint->type != 0) return "";
  GENERAL_NAME* name = sk_GENERAL_NAME_value(point->distpoint->name.fullname, 0);
  if (name == nullptr || name->type != GEN_URI) return "";
  ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     ASN1_STRING_length(uri));
}

inline std::string FirstAuthorityInfoAccess(X509* cert) {
  AuthorityInfoAccessPtr access(static_cast<AUTHORITY_INFO_ACCESS*>(
      X509_get_ext_d2i(cert, NID_info_access, nullptr, nullptr)));
  if (access == nullptr || sk_ACCESS_DESCRIPTION_num(access.get()) == 0) return "";
  GENERAL_NAME* location = sk_ACCESS_DESCRIPTION_value(access.get(), 0)->location;
  if (location->type != GEN_URI) return "";
  ASN1_IA5STRING* uri = location->d.uniformResourceIdentifier;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     ASN1_STRING_length(uri));
}

}  // namespace scep::crypto::testing

#endif  // SCEP_COMMON_CRYPTO_TEST_PKI_H_
