#ifndef SCEP_COMMON_CRYPTO_PROVIDERS_H_
#define SCEP_COMMON_CRYPTO_PROVIDERS_H_

#include <openssl/crypto.h>
#include <openssl/provider.h>

namespace scep::crypto {

// OpenSSL's legacy provider (single DES, which old SCEP clients still send)
// in a library context of its own, next to a default provider there, for as
// long as this object lives; both are unloaded and the context freed on
// destruction, so a sanitized process exits without leak reports.
//
// Why a context of its own: OpenSSL 3.0 enumerates every provider of a
// context for each algorithm fetch and for the key decoder it builds for
// every parsed certificate, request and CMS signer certificate. With the
// legacy provider in the default context one d2i_X509 of an RSA certificate
// took 140 us instead of 91 us (bench/README.md), paid twice per enrollment
// in the signer and once more per key in the gateway when a legacy profile
// is configured. codec::Envelope and codec::Decrypt use this context only for
// a cipher the default context lacks.
//
// At most one instance per process; declare it in main() before anything
// that may need a legacy algorithm.
class LegacyProviders {
 public:
  LegacyProviders();
  ~LegacyProviders();
  LegacyProviders(const LegacyProviders&) = delete;
  LegacyProviders& operator=(const LegacyProviders&) = delete;

  // False when the legacy provider is not installed.
  bool legacy_loaded() const { return legacy_ != nullptr; }

  // The library context holding the legacy (and a default) provider.
  OSSL_LIB_CTX* context() const { return context_; }

  // The context of the live instance whose legacy provider loaded, or
  // nullptr when there is none.
  static OSSL_LIB_CTX* Current();

 private:
  OSSL_LIB_CTX* const context_;
  OSSL_PROVIDER* const legacy_;
  OSSL_PROVIDER* const default_;
};

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_PROVIDERS_H_
