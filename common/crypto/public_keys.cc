#include "common/crypto/public_keys.h"

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {
namespace {

// One decoder context per thread, bound at creation to `key`, the slot each
// OSSL_DECODER_from_data fills. Any key type (RSA, EC, ...).
struct ThreadDecoder {
  EVP_PKEY* key = nullptr;
  OSSL_DECODER_CTX* ctx = nullptr;

  ThreadDecoder() {
    ctx = OSSL_DECODER_CTX_new_for_pkey(&key, "DER", "SubjectPublicKeyInfo",
                                        nullptr, EVP_PKEY_PUBLIC_KEY, nullptr,
                                        nullptr);
  }
  ~ThreadDecoder() {
    OSSL_DECODER_CTX_free(ctx);
    EVP_PKEY_free(key);
  }
  ThreadDecoder(const ThreadDecoder&) = delete;
  ThreadDecoder& operator=(const ThreadDecoder&) = delete;
};

// True when i2d of `cert` gives back exactly `der`.
bool Reencodes(X509* cert, absl::string_view der) {
  unsigned char* out = nullptr;
  int len = i2d_X509(cert, &out);
  const bool same = len > 0 && static_cast<size_t>(len) == der.size() &&
                    CRYPTO_memcmp(out, der.data(), der.size()) == 0;
  OPENSSL_free(out);
  return same;
}

// `der` decoded as `item` in `keyless`, rejecting trailing bytes;
// InvalidArgument naming `what`.
template <typename Ptr>
absl::StatusOr<Ptr> ParseKeyless(absl::string_view der, const ASN1_ITEM* item,
                                 OSSL_LIB_CTX* keyless, absl::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  // The failed opportunistic key decode leaves errors; they are not ours.
  ERR_set_mark();
  Ptr obj(reinterpret_cast<typename Ptr::element_type*>(ASN1_item_d2i_ex(
      nullptr, &p, static_cast<long>(der.size()), item, keyless, nullptr)));
  if (obj == nullptr) {
    ERR_clear_last_mark();
    return SslInvalid(absl::StrCat(what, " is not valid DER"));
  }
  ERR_pop_to_mark();
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " has trailing bytes"));
  }
  return obj;
}

}  // namespace

OSSL_LIB_CTX* KeylessContext() {
  // Never freed: parsed objects keep pointers into it until process exit.
  static OSSL_LIB_CTX* const context = [] {
    OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
    // Loading any provider turns off the fallback to "default"; "null" is
    // built into libcrypto and offers nothing, so no decoder is found.
    if (ctx != nullptr && OSSL_PROVIDER_load(ctx, "null") == nullptr) {
      OSSL_LIB_CTX_free(ctx);
      ctx = nullptr;
    }
    return ctx;
  }();
  return context;
}

absl::StatusOr<X509ReqPtr> ParseRequestWithoutKey(absl::string_view der) {
  OSSL_LIB_CTX* keyless = KeylessContext();
  if (keyless == nullptr) {
    return FromDer<X509ReqPtr>(der, d2i_X509_REQ, "certificate request");
  }
  return ParseKeyless<X509ReqPtr>(der, ASN1_ITEM_rptr(X509_REQ), keyless,
                                  "certificate request");
}

absl::StatusOr<X509Ptr> ParseCertificate(absl::string_view der) {
  OSSL_LIB_CTX* keyless = KeylessContext();
  if (keyless == nullptr) return FromDer<X509Ptr>(der, d2i_X509, "certificate");
  ASSIGN_OR_RETURN(X509Ptr cert, ParseKeyless<X509Ptr>(der, ASN1_ITEM_rptr(X509),
                                                        keyless, "certificate"));
  ASN1_OBJECT* algorithm = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  int param_type = V_ASN1_UNDEF;
  if (X509_PUBKEY_get0_param(&algorithm, &bits, &bits_len, &algor,
                             X509_get_X509_PUBKEY(cert.get())) == 1) {
    X509_ALGOR_get0(nullptr, &param_type, nullptr, algor);
  }
  if (OBJ_obj2nid(algorithm) == NID_rsaEncryption &&
      (param_type == V_ASN1_NULL || param_type == V_ASN1_UNDEF)) {
    const unsigned char* q = bits;
    EvpPkeyPtr key(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &q, bits_len));
    if (key != nullptr && q == bits + bits_len &&
        X509_set_pubkey(cert.get(), key.get()) == 1 && Reencodes(cert.get(), der)) {
      return cert;
    }
    DrainSslErrors();
  }
  // Anything else (EC, RSA-PSS, an odd encoding): OpenSSL's full parse.
  return FromDer<X509Ptr>(der, d2i_X509, "certificate");
}

absl::StatusOr<EvpPkeyPtr> DecodePublicKey(absl::string_view spki_der) {
  thread_local ThreadDecoder decoder;
  if (decoder.ctx == nullptr) {
    return FromDer<EvpPkeyPtr>(spki_der, d2i_PUBKEY, "public key");
  }
  EVP_PKEY_free(decoder.key);
  decoder.key = nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(spki_der.data());
  size_t left = spki_der.size();
  if (OSSL_DECODER_from_data(decoder.ctx, &p, &left) != 1 ||
      decoder.key == nullptr) {
    EVP_PKEY_free(decoder.key);
    decoder.key = nullptr;
    return SslInvalid("public key cannot be decoded");
  }
  EvpPkeyPtr key(decoder.key);
  decoder.key = nullptr;
  if (left != 0) return absl::InvalidArgumentError("public key has trailing bytes");
  return key;
}

absl::StatusOr<EvpPkeyPtr> DecodePublicKey(const X509_PUBKEY* spki) {
  if (spki == nullptr) return absl::InvalidArgumentError("no public key");
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(spki, &der);
  if (len <= 0) return SslInvalid("public key cannot be encoded");
  absl::StatusOr<EvpPkeyPtr> key = DecodePublicKey(
      absl::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  return key;
}

bool SamePublicKey(const X509_PUBKEY* a, const X509_PUBKEY* b) {
  if (a == nullptr || b == nullptr) return false;
  const unsigned char* a_bits = nullptr;
  const unsigned char* b_bits = nullptr;
  int a_len = 0, b_len = 0;
  X509_ALGOR* a_alg = nullptr;
  X509_ALGOR* b_alg = nullptr;
  if (X509_PUBKEY_get0_param(nullptr, &a_bits, &a_len, &a_alg, a) != 1 ||
      X509_PUBKEY_get0_param(nullptr, &b_bits, &b_len, &b_alg, b) != 1) {
    return false;
  }
  return a_len == b_len && X509_ALGOR_cmp(a_alg, b_alg) == 0 &&
         CRYPTO_memcmp(a_bits, b_bits, static_cast<size_t>(a_len)) == 0;
}

}  // namespace scep::crypto
