#include "services/signer/key_access.h"

#include "common/base/status_macros.h"
#include "common/crypto/pem.h"
#include "common/crypto/ssl_error.h"

namespace scep::signer {
namespace {

class SoftwareKey final : public KeyAccess {
 public:
  explicit SoftwareKey(crypto::EvpPkeyPtr key) : key_(std::move(key)) {}

  absl::Status WithKey(absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) override {
    return fn(key_.get());
  }

  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() override {
    EVP_PKEY_up_ref(key_.get());
    return crypto::EvpPkeyPtr(key_.get());
  }

 private:
  crypto::EvpPkeyPtr key_;
};

}  // namespace

std::unique_ptr<KeyAccess> NewSoftwareKey(crypto::EvpPkeyPtr key) {
  return std::make_unique<SoftwareKey>(std::move(key));
}

absl::StatusOr<std::unique_ptr<KeyAccess>> NewKeyFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr key, crypto::LoadPrivateKeyFile(path));
  return NewSoftwareKey(std::move(key));
}

}  // namespace scep::signer
