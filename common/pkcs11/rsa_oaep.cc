#include "common/pkcs11/rsa_oaep.h"

#include <openssl/objects.h>

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/pkcs11/ckr.h"

namespace scep::pkcs11 {
namespace {

struct OaepHash {
  int nid;
  CK_MECHANISM_TYPE hash;
  CK_RSA_PKCS_MGF_TYPE mgf1;
};

constexpr OaepHash kHashes[] = {
    {NID_sha1, CKM_SHA_1, CKG_MGF1_SHA1},       {NID_sha224, CKM_SHA224, CKG_MGF1_SHA224},
    {NID_sha256, CKM_SHA256, CKG_MGF1_SHA256},  {NID_sha384, CKM_SHA384, CKG_MGF1_SHA384},
    {NID_sha512, CKM_SHA512, CKG_MGF1_SHA512},
};

std::optional<OaepHash> FindHash(int nid) {
  for (const OaepHash& hash : kHashes) {
    if (hash.nid == nid) return hash;
  }
  return std::nullopt;
}

// Refusals of C_DecryptInit that are about the mechanism, its parameters or
// the key's policy (CKA_ALLOWED_MECHANISMS, CKA_DECRYPT), not the token's
// health.
bool RefusesMechanism(CK_RV rv) {
  switch (rv) {
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_ARGUMENTS_BAD:  // SoftHSMv2 2.6: OAEP with another hash than SHA-1
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_FUNCTION_NOT_SUPPORTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::string> DecryptRsaOaep(const Session& session, absl::string_view key_label,
                                           const crypto::RsaOaepParams& params,
                                           absl::string_view ciphertext) {
  const std::optional<OaepHash> hash = FindHash(params.hash_nid);
  const std::optional<OaepHash> mgf1 = FindHash(params.mgf1_hash_nid);
  const std::string what =
      absl::StrCat("CKM_RSA_PKCS_OAEP (", OBJ_nid2sn(params.hash_nid), ", MGF1 with ",
                   OBJ_nid2sn(params.mgf1_hash_nid), ") with private key '", key_label, "'");
  if (!hash || !mgf1) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": no PKCS#11 hash for it"));
  }
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> keys,
                   session.FindObjects(CKO_PRIVATE_KEY, key_label, 2));
  if (keys.empty()) {
    return absl::NotFoundError(absl::StrCat("no private key labelled '", key_label, "'"));
  }
  if (keys.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "several private keys are labelled '", key_label,
        "'; which one would be used is up to the token: remove or relabel all but one"));
  }
  std::string label = params.label;
  CK_RSA_PKCS_OAEP_PARAMS oaep = {
      hash->hash, mgf1->mgf1, CKZ_DATA_SPECIFIED,
      label.empty() ? nullptr : label.data(), label.size()};
  CK_MECHANISM mechanism = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
  CK_FUNCTION_LIST* const f = session.functions();
  if (CK_RV rv = f->C_DecryptInit(session.handle(), &mechanism, keys.front()); rv != CKR_OK) {
    return CkrError(RefusesMechanism(rv) ? absl::StatusCode::kFailedPrecondition : CkrCode(rv),
                    absl::StrCat("the token refuses ", what), rv);
  }
  // Larger than any OAEP plaintext of an RSA key up to 8192 bits: one call,
  // which ends the operation whatever it returns.
  std::string plaintext(1024, '\0');
  CK_ULONG length = plaintext.size();
  std::string input(ciphertext);
  const CK_RV rv = f->C_Decrypt(session.handle(), reinterpret_cast<CK_BYTE*>(input.data()),
                                input.size(), reinterpret_cast<CK_BYTE*>(plaintext.data()),
                                &length);
  if (rv == CKR_OK) {
    plaintext.resize(length);
    return plaintext;
  }
  // Whether the token went away is asked of the session, not read from the
  // CKR: a token could report a padding failure as a device error, and an
  // Unavailable (HTTP 503) would then tell the device which check failed.
  absl::StatusOr<CK_SESSION_INFO> info = session.Info();
  if (!info.ok()) return info.status();
  if (info->state != CKS_RO_USER_FUNCTIONS && info->state != CKS_RW_USER_FUNCTIONS) {
    return absl::UnavailableError("user no longer logged in");
  }
  return absl::InvalidArgumentError("RSAES-OAEP decryption failed");
}

}  // namespace scep::pkcs11
