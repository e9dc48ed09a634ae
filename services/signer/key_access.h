#ifndef SCEP_SERVICES_SIGNER_KEY_ACCESS_H_
#define SCEP_SERVICES_SIGNER_KEY_ACCESS_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/rsa_oaep_params.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::pkcs11 {
class Token;
}

namespace scep::signer {

// One private key the signer uses (the CA key or the RA key). Production
// keys live in a PKCS#11 token; tests use software keys. Thread-safe.
class KeyAccess {
 public:
  virtual ~KeyAccess() = default;
  // Runs `fn` with the private key. The EVP_PKEY is valid only during `fn`.
  // Unavailable when the token cannot be reached.
  virtual absl::Status WithKey(
      absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) = 0;
  // A copy of the public half.
  virtual absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() = 0;

  // RSAES-OAEP decryption of `ciphertext` (a content-encryption key) where
  // the key lives, for keys whose EVP_PKEY would not run OAEP there: a
  // token key through libp11 0.4.12 asks the token for raw RSA
  // (CKM_RSA_X_509) and unpads in software. Errors: Unimplemented when the
  // key has no such path (software keys: use WithKey); FailedPrecondition
  // when the token refuses OAEP with `params` (WithKey is then the only
  // way, over raw RSA); InvalidArgument, always alike, when the ciphertext
  // is rejected; Unavailable as WithKey.
  virtual absl::StatusOr<std::string> DecryptOaep(const crypto::RsaOaepParams& params,
                                                  absl::string_view ciphertext) {
    (void)params;
    (void)ciphertext;
    return absl::UnimplementedError("the key decrypts RSAES-OAEP through WithKey");
  }
};

// A key held in memory: unit tests, and RA key files for HSMs that refuse
// RSA PKCS#1 v1.5 decryption (DESIGN.md, "RA key placement").
std::unique_ptr<KeyAccess> NewSoftwareKey(crypto::EvpPkeyPtr key);

// NewSoftwareKey of the unencrypted PEM private key file `path`.
// FailedPrecondition naming the path (never its content) when it is missing,
// unreadable, encrypted or holds no private key.
absl::StatusOr<std::unique_ptr<KeyAccess>> NewKeyFromFile(const std::string& path);

// The key pair labelled `label` in `token` (not owned; must outlive it).
std::unique_ptr<KeyAccess> NewTokenKey(pkcs11::Token* token, std::string label);
// The key pair labelled `label` in `token_label`, the main token of `token`
// or one of its further tokens.
std::unique_ptr<KeyAccess> NewTokenKey(pkcs11::Token* token, std::string token_label,
                                       std::string label);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_KEY_ACCESS_H_
