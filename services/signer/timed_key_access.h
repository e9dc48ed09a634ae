#ifndef SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_
#define SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_

#include <memory>
#include <string>

#include "services/signer/key_access.h"
#include "services/signer/signer_metrics.h"

namespace scep::signer {

// Names the private-key operation the current thread is about to run
// ("decrypt", "sign_certificate", ...), for the `operation` label of the
// PKCS#11 metrics: KeyAccess::WithKey cannot tell a decryption from a
// signature. `operation` must be a string literal (it is kept, not copied).
// Nestable; restores the previous name on destruction.
class ScopedKeyOperation {
 public:
  explicit ScopedKeyOperation(const char* operation);
  ~ScopedKeyOperation();
  ScopedKeyOperation(const ScopedKeyOperation&) = delete;
  ScopedKeyOperation& operator=(const ScopedKeyOperation&) = delete;

  // The innermost name on this thread, or "private_key" when none.
  static const char* Current();

 private:
  const char* const previous_;
};

// A KeyAccess decorator that times every operation on `inner` and counts
// it by `key` ("ca" or "ra"), operation (ScopedKeyOperation::Current() for
// WithKey, "public_key" for PublicKey) and result in `metrics` (not owned;
// must outlive the key). Results pass through unchanged. Thread-safe when
// `inner` is.
std::unique_ptr<KeyAccess> NewTimedKeyAccess(std::unique_ptr<KeyAccess> inner,
                                             std::string key,
                                             SignerMetrics* metrics);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_
