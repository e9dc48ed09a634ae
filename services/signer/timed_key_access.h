#ifndef SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_
#define SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

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

// Names the PKCS#11 mechanism the current thread's next private-key
// operation uses when the key type alone does not tell (an RSA decryption
// is PKCS#1 v1.5 or OAEP depending on the request). `mechanism` must be a
// string literal or null (no hint). Nestable like ScopedKeyOperation.
class ScopedKeyMechanism {
 public:
  explicit ScopedKeyMechanism(const char* mechanism);
  ~ScopedKeyMechanism();
  ScopedKeyMechanism(const ScopedKeyMechanism&) = delete;
  ScopedKeyMechanism& operator=(const ScopedKeyMechanism&) = delete;

  // The innermost hint on this thread, or null.
  static const char* Current();

 private:
  const char* const previous_;
};

// The key-transport mechanism of a pkcsPKIEnvelope (CMS EnvelopedData, RFC
// 8894 section 3.2.2): "rsa-oaep" when its first KeyTransRecipientInfo uses
// RSAES-OAEP, "rsa-pkcs1" for rsaEncryption, null when it is not
// parseable or uses something else. For ScopedKeyMechanism.
const char* KeyTransportMechanism(absl::string_view enveloped_data);

// A KeyAccess decorator that times every operation on `inner` and counts
// it by `key` ("ca" or "ra"), operation (ScopedKeyOperation::Current() for
// WithKey, "public_key" for PublicKey), mechanism and result in `metrics`
// (not owned; must outlive the key). The mechanism is the
// ScopedKeyMechanism hint, else follows from the key type: RSA "rsa-pkcs1"
// (signatures and decryption are PKCS#1 v1.5), EC "ecdsa"; "none" for
// PublicKey; "unknown" while the key type was never seen. DecryptOaep is
// "rsa-oaep" (not counted when Unimplemented: no key operation ran).
// Results pass through unchanged. Thread-safe when `inner` is.
std::unique_ptr<KeyAccess> NewTimedKeyAccess(std::unique_ptr<KeyAccess> inner,
                                             std::string key,
                                             SignerMetrics* metrics);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_TIMED_KEY_ACCESS_H_
