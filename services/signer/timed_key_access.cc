#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

thread_local const char* current_operation = nullptr;

class TimedKeyAccess final : public KeyAccess {
 public:
  TimedKeyAccess(std::unique_ptr<KeyAccess> inner, std::string key,
                 SignerMetrics* metrics)
      : inner_(std::move(inner)), key_(std::move(key)), metrics_(metrics) {}

  absl::Status WithKey(absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) override {
    const absl::Time start = absl::Now();
    absl::Status status = inner_->WithKey(fn);
    metrics_->KeyOperation(key_, ScopedKeyOperation::Current(), status,
                           absl::Now() - start);
    return status;
  }

  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() override {
    const absl::Time start = absl::Now();
    absl::StatusOr<crypto::EvpPkeyPtr> key = inner_->PublicKey();
    metrics_->KeyOperation(key_, "public_key", key.status(), absl::Now() - start);
    return key;
  }

 private:
  const std::unique_ptr<KeyAccess> inner_;
  const std::string key_;
  SignerMetrics* const metrics_;
};

}  // namespace

ScopedKeyOperation::ScopedKeyOperation(const char* operation)
    : previous_(current_operation) {
  current_operation = operation;
}

ScopedKeyOperation::~ScopedKeyOperation() { current_operation = previous_; }

const char* ScopedKeyOperation::Current() {
  return current_operation != nullptr ? current_operation : "private_key";
}

std::unique_ptr<KeyAccess> NewTimedKeyAccess(std::unique_ptr<KeyAccess> inner,
                                             std::string key,
                                             SignerMetrics* metrics) {
  return std::make_unique<TimedKeyAccess>(std::move(inner), std::move(key),
                                          metrics);
}

}  // namespace scep::signer
