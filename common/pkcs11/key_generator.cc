#include "common/pkcs11/key_generator.h"

#include <openssl/objects.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/pkcs11/ckr.h"

namespace scep::pkcs11 {
namespace {

// Holds attribute values so the CK_ATTRIBUTE pointers stay valid.
class Template {
 public:
  void AddBool(CK_ATTRIBUTE_TYPE type, bool value) {
    Add(type, std::string(1, static_cast<char>(value ? CK_TRUE : CK_FALSE)));
  }
  void AddUlong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
    Add(type, std::string(reinterpret_cast<const char*>(&value), sizeof(value)));
  }
  void Add(CK_ATTRIBUTE_TYPE type, std::string value) {
    entries_.push_back({type, std::move(value)});
  }

  // Valid until the next Add.
  std::vector<CK_ATTRIBUTE> Attributes() {
    std::vector<CK_ATTRIBUTE> out;
    out.reserve(entries_.size());
    for (auto& [type, value] : entries_) {
      out.push_back({type, value.data(), value.size()});
    }
    return out;
  }

 private:
  struct Entry {
    CK_ATTRIBUTE_TYPE type;
    std::string value;
  };
  std::vector<Entry> entries_;
};

absl::StatusOr<std::string> CurveParams(int curve_nid) {
  const ASN1_OBJECT* curve = OBJ_nid2obj(curve_nid);
  if (curve == nullptr || OBJ_length(curve) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown curve NID ", curve_nid));
  }
  return crypto::ToDer(curve, i2d_ASN1_OBJECT);
}

}  // namespace

absl::Status GenerateKeyPair(const Session& session, const KeySpec& spec, KeyUse use,
                             absl::string_view label, absl::string_view id) {
  Template pub;
  Template priv;
  for (Template* t : {&pub, &priv}) {
    t->AddBool(CKA_TOKEN, true);
    t->Add(CKA_LABEL, std::string(label));
    t->Add(CKA_ID, std::string(id));
  }
  pub.AddUlong(CKA_CLASS, CKO_PUBLIC_KEY);
  pub.AddBool(CKA_PRIVATE, false);
  pub.AddBool(CKA_VERIFY, true);
  pub.AddBool(CKA_WRAP, false);
  priv.AddUlong(CKA_CLASS, CKO_PRIVATE_KEY);
  priv.AddBool(CKA_PRIVATE, true);
  priv.AddBool(CKA_SENSITIVE, true);
  priv.AddBool(CKA_EXTRACTABLE, false);
  priv.AddBool(CKA_SIGN, true);
  // Nothing but signing and (RSA) decryption: no key import or agreement.
  priv.AddBool(CKA_UNWRAP, false);
  priv.AddBool(CKA_DERIVE, false);

  CK_MECHANISM mechanism = {CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  if (spec.is_rsa()) {
    static constexpr char kExponent65537[] = {0x01, 0x00, 0x01};
    const bool decrypts = use == KeyUse::kSignAndDecrypt;
    pub.AddUlong(CKA_KEY_TYPE, CKK_RSA);
    pub.AddBool(CKA_ENCRYPT, decrypts);
    pub.AddUlong(CKA_MODULUS_BITS, static_cast<CK_ULONG>(spec.rsa_bits));
    pub.Add(CKA_PUBLIC_EXPONENT,
            std::string(kExponent65537, sizeof(kExponent65537)));
    priv.AddUlong(CKA_KEY_TYPE, CKK_RSA);
    priv.AddBool(CKA_DECRYPT, decrypts);
  } else {
    mechanism.mechanism = CKM_EC_KEY_PAIR_GEN;
    ASSIGN_OR_RETURN(std::string params, CurveParams(spec.curve_nid));
    pub.AddUlong(CKA_KEY_TYPE, CKK_EC);
    pub.AddBool(CKA_ENCRYPT, false);
    pub.Add(CKA_EC_PARAMS, std::move(params));
    priv.AddUlong(CKA_KEY_TYPE, CKK_EC);
    priv.AddBool(CKA_DECRYPT, false);
  }

  std::vector<CK_ATTRIBUTE> pub_attrs = pub.Attributes();
  std::vector<CK_ATTRIBUTE> priv_attrs = priv.Attributes();
  CK_OBJECT_HANDLE pub_handle = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE priv_handle = CK_INVALID_HANDLE;
  CK_RV rv = session.functions()->C_GenerateKeyPair(
      session.handle(), &mechanism, pub_attrs.data(), pub_attrs.size(),
      priv_attrs.data(), priv_attrs.size(), &pub_handle, &priv_handle);
  if (rv != CKR_OK) {
    return CkrError(
        absl::StrCat("generating ", spec.Name(), " key pair '", label, "'"),
        rv);
  }
  return absl::OkStatus();
}

}  // namespace scep::pkcs11
