#ifndef SCEP_COMMON_PKCS11_KEY_SPEC_H_
#define SCEP_COMMON_PKCS11_KEY_SPEC_H_

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::pkcs11 {

// The type of a key pair: RSA with a modulus size, or EC on a named curve.
struct KeySpec {
  enum class Algorithm { kRsa, kEc };

  Algorithm algorithm = Algorithm::kRsa;
  int rsa_bits = 2048;          // kRsa only.
  int curve_nid = NID_undef;    // kEc only (OpenSSL NID).

  static KeySpec Rsa(int bits) { return {Algorithm::kRsa, bits, NID_undef}; }
  static KeySpec Ec(int curve_nid) { return {Algorithm::kEc, 0, curve_nid}; }

  // Parses the command-line form: "rsa:2048", "rsa:3072", "rsa:4096",
  // "ec:p256", "ec:p384" (case-insensitive). InvalidArgument for anything
  // else, naming the accepted forms.
  static absl::StatusOr<KeySpec> Parse(absl::string_view text);

  // "RSA-2048", "EC-P256", "EC-P384"; other curves as "EC-<OpenSSL short
  // name>". Same form as KeyAttributes::type.
  std::string Name() const;

  bool is_rsa() const { return algorithm == Algorithm::kRsa; }

  // Digest for certificates signed with this key: SHA-384 for EC P-384 and
  // RSA of 4096 bits or more, otherwise SHA-256.
  const EVP_MD* SignatureDigest() const;

  friend bool operator==(const KeySpec& a, const KeySpec& b) {
    return a.algorithm == b.algorithm &&
           (a.algorithm == Algorithm::kRsa ? a.rsa_bits == b.rsa_bits
                                           : a.curve_nid == b.curve_nid);
  }
  friend bool operator!=(const KeySpec& a, const KeySpec& b) {
    return !(a == b);
  }
};

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_KEY_SPEC_H_
