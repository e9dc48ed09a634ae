#ifndef SCEP_COMMON_PKCS11_KEY_ATTRIBUTES_H_
#define SCEP_COMMON_PKCS11_KEY_ATTRIBUTES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pkcs11/key_spec.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {

// What a token says about a private key object, for diagnostics and tests.
struct KeyAttributes {
  KeySpec spec;
  std::string type;  // spec.Name(): "RSA-2048", "EC-P256", ...
  bool sensitive = false;          // CKA_SENSITIVE
  bool extractable = true;         // CKA_EXTRACTABLE
  bool always_sensitive = false;   // CKA_ALWAYS_SENSITIVE
  bool never_extractable = false;  // CKA_NEVER_EXTRACTABLE
  // False when the token does not report the two above.
  bool history_reported = true;

  // True when the key cannot leave the token in any form.
  bool protected_in_token() const { return sensitive && !extractable; }
};

// Reads the attributes of the private key labelled `label` through
// `session` (the user must be logged in: private keys are CKA_PRIVATE).
// NotFound when there is no such key; FailedPrecondition when several
// private keys carry the label (which one a signer uses would be the
// token's choice; the message names the label and the count) or for key
// types other than RSA and EC.
absl::StatusOr<KeyAttributes> ReadPrivateKeyAttributes(
    const Session& session, absl::string_view label);

// OK when the private key `label` of token `token_label` described by
// `attributes` never left the token: CKA_SENSITIVE and not
// CKA_EXTRACTABLE, and (when the token reports them) CKA_ALWAYS_SENSITIVE
// and CKA_NEVER_EXTRACTABLE. FailedPrecondition naming the key and what is
// wrong otherwise: a key put into the token from outside, or one that could
// be read out, is not one to sign certificates with.
absl::Status CheckKeyProtected(const KeyAttributes& attributes, absl::string_view token_label,
                               absl::string_view label);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_KEY_ATTRIBUTES_H_
