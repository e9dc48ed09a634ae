#include "services/signer/timed_key_access.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <time.h>

#include <atomic>

#include "common/codec/envelope.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::signer {
namespace {

thread_local const char* current_operation = nullptr;
thread_local const char* current_mechanism = nullptr;

// CPU time of the calling thread so far.
absl::Duration ThreadCpu() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return absl::ZeroDuration();
  return absl::DurationFromTimespec(ts);
}

// The mechanism a private-key operation of a `key_type` key uses when no
// ScopedKeyMechanism says otherwise.
const char* DefaultMechanism(int key_type) {
  switch (key_type) {
    case EVP_PKEY_RSA: return "rsa-pkcs1";
    case EVP_PKEY_EC: return "ecdsa";
    case EVP_PKEY_NONE: return "unknown";
    default: return "other";
  }
}

class TimedKeyAccess final : public KeyAccess {
 public:
  TimedKeyAccess(std::unique_ptr<KeyAccess> inner, std::string key,
                 SignerMetrics* metrics)
      : inner_(std::move(inner)), key_(std::move(key)), metrics_(metrics) {}

  absl::Status WithKey(absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) override {
    const absl::Time start = absl::Now();
    const absl::Duration cpu_start = ThreadCpu();
    absl::Status status = inner_->WithKey([&](EVP_PKEY* key) {
      // Remembered so a later failure before the key is reached (token
      // gone) is still labelled with the key's mechanism.
      if (key != nullptr) key_type_.store(EVP_PKEY_get_base_id(key));
      return fn(key);
    });
    const char* mechanism = ScopedKeyMechanism::Current();
    if (mechanism == nullptr) mechanism = DefaultMechanism(key_type_.load());
    metrics_->KeyOperation(key_, ScopedKeyOperation::Current(), mechanism,
                           status, absl::Now() - start, ThreadCpu() - cpu_start);
    return status;
  }

  // Counted under the mechanism it asks the token for, also when refused;
  // not at all when the key has no such path (no key operation ran).
  absl::StatusOr<std::string> DecryptOaep(const crypto::RsaOaepParams& params,
                                          absl::string_view ciphertext) override {
    const absl::Time start = absl::Now();
    const absl::Duration cpu_start = ThreadCpu();
    absl::StatusOr<std::string> plaintext = inner_->DecryptOaep(params, ciphertext);
    if (!absl::IsUnimplemented(plaintext.status())) {
      metrics_->KeyOperation(key_, ScopedKeyOperation::Current(), "rsa-oaep",
                             plaintext.status(), absl::Now() - start,
                             ThreadCpu() - cpu_start);
    }
    return plaintext;
  }

  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() override {
    const absl::Time start = absl::Now();
    const absl::Duration cpu_start = ThreadCpu();
    absl::StatusOr<crypto::EvpPkeyPtr> key = inner_->PublicKey();
    if (key.ok() && *key != nullptr) {
      key_type_.store(EVP_PKEY_get_base_id(key->get()));
    }
    metrics_->KeyOperation(key_, "public_key", "none", key.status(),
                           absl::Now() - start, ThreadCpu() - cpu_start);
    return key;
  }

 private:
  const std::unique_ptr<KeyAccess> inner_;
  const std::string key_;
  SignerMetrics* const metrics_;
  std::atomic<int> key_type_{EVP_PKEY_NONE};
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

ScopedKeyMechanism::ScopedKeyMechanism(const char* mechanism)
    : previous_(current_mechanism) {
  current_mechanism = mechanism;
}

ScopedKeyMechanism::~ScopedKeyMechanism() { current_mechanism = previous_; }

const char* ScopedKeyMechanism::Current() { return current_mechanism; }

const char* KeyTransportMechanism(absl::string_view enveloped_data) {
  // A DER walk, not a second CMS parse: the decryption that follows parses
  // the message and reports what is wrong with it.
  absl::StatusOr<int> nid = codec::KeyTransportAlgorithm(enveloped_data);
  if (!nid.ok()) return nullptr;
  switch (*nid) {
    case NID_rsaesOaep: return "rsa-oaep";
    case NID_rsaEncryption: return "rsa-pkcs1";
    default: return nullptr;
  }
}

std::unique_ptr<KeyAccess> NewTimedKeyAccess(std::unique_ptr<KeyAccess> inner,
                                             std::string key,
                                             SignerMetrics* metrics) {
  return std::make_unique<TimedKeyAccess>(std::move(inner), std::move(key),
                                          metrics);
}

}  // namespace scep::signer
