#include "common/pkcs11/key_attributes.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include <optional>

#include "absl/strings/str_cat.h"
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
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> key,
                   session.FindObject(CKO_PRIVATE_KEY, label));
  if (!key.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no private key labelled '", label, "'"));
  }
  KeyAttributes attributes;
  ASSIGN_OR_RETURN(attributes.spec, ReadSpec(session, *key));
  attributes.type = attributes.spec.Name();
  ASSIGN_OR_RETURN(attributes.sensitive, session.GetBool(*key, CKA_SENSITIVE));
  ASSIGN_OR_RETURN(attributes.extractable,
                   session.GetBool(*key, CKA_EXTRACTABLE));
  ASSIGN_OR_RETURN(attributes.always_sensitive,
                   session.GetBool(*key, CKA_ALWAYS_SENSITIVE));
  ASSIGN_OR_RETURN(attributes.never_extractable,
                   session.GetBool(*key, CKA_NEVER_EXTRACTABLE));
  return attributes;
}

}  // namespace scep::pkcs11
