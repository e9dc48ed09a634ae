#include "common/pkcs11/key_spec.h"

#include <openssl/objects.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace scep::pkcs11 {

absl::StatusOr<KeySpec> KeySpec::Parse(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "rsa:2048") return Rsa(2048);
  if (lower == "rsa:3072") return Rsa(3072);
  if (lower == "rsa:4096") return Rsa(4096);
  if (lower == "ec:p256" || lower == "ec:p-256") return Ec(NID_X9_62_prime256v1);
  if (lower == "ec:p384" || lower == "ec:p-384") return Ec(NID_secp384r1);
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported key type '", text,
                   "' (use rsa:2048, rsa:3072, rsa:4096, ec:p256 or ec:p384)"));
}

std::string KeySpec::Name() const {
  if (algorithm == Algorithm::kRsa) return absl::StrCat("RSA-", rsa_bits);
  switch (curve_nid) {
    case NID_X9_62_prime256v1:
      return "EC-P256";
    case NID_secp384r1:
      return "EC-P384";
    case NID_secp521r1:
      return "EC-P521";
    default: {
      const char* name = OBJ_nid2sn(curve_nid);
      return absl::StrCat("EC-", name != nullptr ? name : "unknown");
    }
  }
}

const EVP_MD* KeySpec::SignatureDigest() const {
  const bool strong = algorithm == Algorithm::kRsa
                          ? rsa_bits >= 4096
                          : curve_nid == NID_secp384r1 ||
                                curve_nid == NID_secp521r1;
  return strong ? EVP_sha384() : EVP_sha256();
}

}  // namespace scep::pkcs11
