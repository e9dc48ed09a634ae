#include "common/pkcs11/key_attributes.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::pkcs11 {
namespace {

absl::StatusOr<KeySpec> ReadSpec(const Session& session,
                                 CK_OBJECT_HANDLE key) {
  ASSIGN_OR_RETURN(CK_ULONG key_type, session.GetUlong(key, CKA_KEY_TYPE));
  if (key_type == CKK_RSA) {
    ASSIGN_OR_RETURN(std::string modulus, session.GetAttribute(key, CKA_MODULUS));
    size_t leading_zeros = modulus.find_first_not_of('\0');
    if (leading_zeros == std::string::npos) {
      return absl::InternalError("RSA key has an empty modulus");
    }
    return KeySpec::Rsa(static_cast<int>((modulus.size() - leading_zeros) * 8));
  }
  if (key_type == CKK_EC) {
    ASSIGN_OR_RETURN(std::string params, session.GetAttribute(key, CKA_EC_PARAMS));
    ASSIGN_OR_RETURN(crypto::Asn1ObjectPtr curve,
                     (crypto::FromDer<crypto::Asn1ObjectPtr>(
                         params, d2i_ASN1_OBJECT, "CKA_EC_PARAMS")));
    return KeySpec::Ec(OBJ_obj2nid(curve.get()));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("unsupported CKA_KEY_TYPE 0x", absl::Hex(key_type)));
}

}  // namespace

absl::StatusOr<KeyAttributes> ReadPrivateKeyAttributes(
    const Session& session, absl::string_view label) {
  // Up to 16: enough to say how many there are in the usual mistakes.
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> keys,
                   session.FindObjects(CKO_PRIVATE_KEY, label, 16));
  if (keys.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no private key labelled '", label, "'"));
  }
  if (keys.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        keys.size() < 16 ? "" : "at least ", keys.size(), " private keys are labelled '", label,
        "'; which one would be used is up to the token: remove or relabel all but one"));
  }
  const std::optional<CK_OBJECT_HANDLE> key = keys.front();
  KeyAttributes attributes;
  ASSIGN_OR_RETURN(attributes.spec, ReadSpec(session, *key));
  attributes.type = attributes.spec.Name();
  ASSIGN_OR_RETURN(attributes.sensitive, session.GetBool(*key, CKA_SENSITIVE));
  ASSIGN_OR_RETURN(attributes.extractable,
                   session.GetBool(*key, CKA_EXTRACTABLE));
  absl::StatusOr<bool> always_sensitive = session.GetBool(*key, CKA_ALWAYS_SENSITIVE);
  absl::StatusOr<bool> never_extractable = session.GetBool(*key, CKA_NEVER_EXTRACTABLE);
  for (const absl::StatusOr<bool>* history : {&always_sensitive, &never_extractable}) {
    if (!history->ok() && !absl::IsNotFound(history->status())) return history->status();
  }
  attributes.history_reported = always_sensitive.ok() && never_extractable.ok();
  attributes.always_sensitive = always_sensitive.value_or(false);
  attributes.never_extractable = never_extractable.value_or(false);
  return attributes;
}

absl::Status CheckKeyProtected(const KeyAttributes& attributes, absl::string_view token_label,
                               absl::string_view label) {
  std::vector<std::string> flaws;
  if (!attributes.sensitive) flaws.push_back("CKA_SENSITIVE is false");
  if (attributes.extractable) flaws.push_back("CKA_EXTRACTABLE is true");
  if (attributes.history_reported) {
    if (!attributes.always_sensitive) flaws.push_back("CKA_ALWAYS_SENSITIVE is false");
    if (!attributes.never_extractable) flaws.push_back("CKA_NEVER_EXTRACTABLE is false");
  }
  if (flaws.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "private key '", label, "' in token '", token_label, "' may exist outside the token (",
      absl::StrJoin(flaws, ", "),
      "); not used: generate a new key pair under another label (scep-provision generates "
      "sensitive, non-extractable keys)"));
}

}  // namespace scep::pkcs11
