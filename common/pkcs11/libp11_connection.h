#ifndef SCEP_COMMON_PKCS11_LIBP11_CONNECTION_H_
#define SCEP_COMMON_PKCS11_LIBP11_CONNECTION_H_

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

// libp11's types, kept out of this header's users.
struct PKCS11_ctx_st;
struct PKCS11_slot_st;

namespace scep::pkcs11 {

// A token to log in to: its label and user PIN (secret).
struct TokenLogin {
  std::string token_label;
  std::string pin;
};

// One libp11 context logged in to one or more tokens of one module: the
// module loaded, each token's slot found, a session opened, the user logged
// in and the private keys indexed by token and CKA_LABEL. Internal to Token,
// which serialises its lifetime.
//
// Key use and lookups are thread-safe (libp11 0.4.12 pools sessions per
// slot). Destruction unloads the module, which in libp11 0.4.12 always calls
// C_Finalize: it ends every Cryptoki session of this module in the process
// and invalidates every EVP_PKEY handed out.
class Libp11Connection {
 public:
  // Errors: FailedPrecondition when the module cannot be loaded or has no
  // initialised token labelled `token_label`; PermissionDenied for a wrong
  // or locked PIN; Unavailable when the token does not answer. Messages name
  // the token and the CKR code, never the PIN.
  static absl::StatusOr<std::unique_ptr<Libp11Connection>> Connect(
      absl::string_view module_path, const std::vector<TokenLogin>& tokens);

  Libp11Connection(const Libp11Connection&) = delete;
  Libp11Connection& operator=(const Libp11Connection&) = delete;
  ~Libp11Connection();

  // Below, `token_label` is one of the tokens passed to Connect.

  // The private key labelled `label` in `token_label`, owned by this
  // connection and valid until it is destroyed; nullptr when there is none
  // or when several private keys carry the label.
  EVP_PKEY* PrivateKey(absl::string_view token_label, absl::string_view label) const;

  // How many private keys of `token_label` carry `label`. Two or more make
  // the label unusable: which key would sign is not ours to guess.
  size_t PrivateKeyCount(absl::string_view token_label, absl::string_view label) const;

  // A token-independent copy of the public half of the key pair labelled
  // `label`. NotFound when there is no such private key; FailedPrecondition
  // when there are several.
  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey(absl::string_view token_label,
                                               absl::string_view label) const;

  // The CKA_LABELs of the private keys of `token_label`, sorted.
  std::vector<std::string> PrivateKeyLabels(absl::string_view token_label) const;

  // libp11's cached login state; it does not ask the token.
  bool LoggedIn(absl::string_view token_label) const;

  // The Cryptoki slot ID of the token, for direct Cryptoki calls.
  unsigned long slot_id(absl::string_view token_label) const;

 private:
  struct Key {
    crypto::EvpPkeyPtr private_key;
    std::string public_key_der;  // SubjectPublicKeyInfo; empty if unknown.
    size_t count = 1;            // private keys with this label
  };
  struct LoggedInToken {
    PKCS11_slot_st* slot = nullptr;
    std::map<std::string, Key, std::less<>> keys;
  };

  explicit Libp11Connection(PKCS11_ctx_st* ctx) : ctx_(ctx) {}
  absl::Status Open(const TokenLogin& login);
  absl::Status IndexKeys(absl::string_view token_label, LoggedInToken& token);
  const LoggedInToken* Find(absl::string_view token_label) const;

  PKCS11_ctx_st* const ctx_;
  bool loaded_ = false;
  PKCS11_slot_st* slots_ = nullptr;
  unsigned int slot_count_ = 0;
  std::map<std::string, LoggedInToken, std::less<>> tokens_;
};

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_LIBP11_CONNECTION_H_
