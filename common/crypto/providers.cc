#include "common/crypto/providers.h"

#include <atomic>

namespace scep::crypto {
namespace {

std::atomic<OSSL_LIB_CTX*> current{nullptr};

}  // namespace

LegacyProviders::LegacyProviders()
    : context_(OSSL_LIB_CTX_new()),
      legacy_(context_ != nullptr ? OSSL_PROVIDER_load(context_, "legacy") : nullptr),
      default_(context_ != nullptr ? OSSL_PROVIDER_load(context_, "default") : nullptr) {
  if (legacy_ != nullptr && default_ != nullptr) current.store(context_);
}

LegacyProviders::~LegacyProviders() {
  OSSL_LIB_CTX* mine = context_;
  current.compare_exchange_strong(mine, nullptr);
  if (legacy_ != nullptr) OSSL_PROVIDER_unload(legacy_);
  if (default_ != nullptr) OSSL_PROVIDER_unload(default_);
  if (context_ != nullptr) OSSL_LIB_CTX_free(context_);
}

OSSL_LIB_CTX* LegacyProviders::Current() { return current.load(); }

}  // namespace scep::crypto
