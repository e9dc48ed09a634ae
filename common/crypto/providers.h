#ifndef SCEP_COMMON_CRYPTO_PROVIDERS_H_
#define SCEP_COMMON_CRYPTO_PROVIDERS_H_

#include <openssl/provider.h>

namespace scep::crypto {

// OpenSSL's legacy provider (single DES and the other algorithms of old
// SCEP clients) loaded next to the default one for as long as this object
// lives; both are unloaded on destruction, so a sanitized process exits
// without leak reports. Declare it before anything that uses them.
class LegacyProviders {
 public:
  LegacyProviders()
      : legacy_(OSSL_PROVIDER_load(nullptr, "legacy")),
        default_(OSSL_PROVIDER_load(nullptr, "default")) {}
  ~LegacyProviders() {
    if (legacy_ != nullptr) OSSL_PROVIDER_unload(legacy_);
    if (default_ != nullptr) OSSL_PROVIDER_unload(default_);
  }
  LegacyProviders(const LegacyProviders&) = delete;
  LegacyProviders& operator=(const LegacyProviders&) = delete;

  // False when the legacy provider is not installed.
  bool legacy_loaded() const { return legacy_ != nullptr; }

 private:
  OSSL_PROVIDER* const legacy_;
  OSSL_PROVIDER* const default_;
};

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_PROVIDERS_H_
