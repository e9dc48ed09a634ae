#ifndef SCEP_COMMON_PKCS11_TOKEN_H_
#define SCEP_COMMON_PKCS11_TOKEN_H_

#include <openssl/evp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/rsa_oaep_params.h"
#include "common/crypto/ssl_ptr.h"
#include "common/pkcs11/key_attributes.h"

namespace scep::pkcs11 {

class Libp11Connection;
class Module;
class Session;

struct TokenConfig {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;  // CKA_LABEL of the token to use
  std::string pin;          // user PIN: secret, never logged or in a Status
  // Further tokens of the same module whose keys this Token serves as well
  // (e.g. the RA key in another token), each with its own user PIN. One
  // Token per module: see below. They connect and reconnect together: while
  // one of them cannot be logged in to, none of their keys is served.
  struct Further {
    std::string token_label;
    std::string pin;  // secret
  };
  std::vector<Further> further_tokens;
};

// A PKCS#11 token the user is logged in to (and the further tokens of the
// same module its config names), accessed through libp11, whose private keys
// sign and decrypt without leaving it. Calls without a token label are about
// the main token (`config.token_label`).
//
// Recovery: a call that finds the token broken reconnects (see
// WithPrivateKey and PrivateKeyAttributes). A login the token refuses for
// its PIN (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_EXPIRED, ...: every
// PermissionDenied) is final: the Token never calls C_Login again, since
// each retry with a wrong PIN spends one of the PIN's tries until the HSM
// locks it. Every later call returns that PermissionDenied until the
// process restarts (with the right PIN).
//
// Thread-safe: key operations run concurrently under a shared lock;
// reconnecting takes it exclusively. libp11 0.4.12 finalises the module when
// a Token closes or reconnects, ending every other Cryptoki session on that
// module in the process: use one Token per module per process.
class Token {
 public:
  // Loads `config.module_path`, finds the initialised token labelled
  // `config.token_label`, logs in and indexes its private keys by CKA_LABEL.
  // Errors: FailedPrecondition when the module cannot be loaded or the token
  // does not exist (naming the label); PermissionDenied for a wrong or
  // locked PIN ("login to token 'X' failed: CKR_PIN_INCORRECT"); Unavailable
  // when the token does not answer. No message contains the PIN.
  static absl::StatusOr<std::unique_ptr<Token>> Open(TokenConfig config);

  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  ~Token();

  // Runs `fn` with the private key labelled `label`: an EVP_PKEY usable with
  // ordinary OpenSSL calls (X509_sign, CMS_*, EVP_PKEY_sign/decrypt) whose
  // operations run in the token. The key is valid only during `fn`; `fn`
  // must not keep it (not even with EVP_PKEY_up_ref) nor call Reconnect().
  //
  // When `fn` fails and the token is then found broken (session gone, user
  // not logged in, key no longer found), reconnects once and runs `fn` again.
  // Returns fn's status; Unavailable when the token cannot be reached;
  // PermissionDenied once it refused the PIN (see above; message names the
  // token and the CKR, never the PIN); NotFound when the token has no such key;
  // FailedPrecondition when several private keys carry the label.
  absl::Status WithPrivateKey(absl::string_view label,
                              absl::FunctionRef<absl::Status(EVP_PKEY*)> fn);
  // The same for the key labelled `label` in token `token_label` (the main
  // token or one of the further ones; NotFound for any other).
  absl::Status WithPrivateKey(absl::string_view token_label, absl::string_view label,
                              absl::FunctionRef<absl::Status(EVP_PKEY*)> fn);

  // RSAES-OAEP decryption of `ciphertext` with the private key `label` of
  // token `token_label`, in the token (CKM_RSA_PKCS_OAEP with `params`; see
  // DecryptRsaOaep for why not through WithPrivateKey), on a session of a
  // small pool of the Token's own. Errors as DecryptRsaOaep: FailedPrecondition
  // when the token refuses the mechanism or parameters, InvalidArgument
  // (always the same message) when it rejects the ciphertext; Unavailable,
  // PermissionDenied and reconnecting as WithPrivateKey.
  absl::StatusOr<std::string> DecryptOaep(absl::string_view token_label, absl::string_view label,
                                          const crypto::RsaOaepParams& params,
                                          absl::string_view ciphertext);

  // A copy of the public key of the pair labelled `label`, owned by the
  // caller and independent of the token. NotFound when there is no such key
  // pair; FailedPrecondition when several private keys carry the label;
  // Unavailable when disconnected.
  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey(absl::string_view label);
  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey(absl::string_view token_label,
                                               absl::string_view label);

  // The token's attributes of the private key labelled `label`: type and
  // whether it is sensitive and non-extractable, read from the token itself
  // (what a readiness probe calls). NotFound when absent; Unavailable when
  // the token does not answer; PermissionDenied once it refused the PIN.
  // When the token is found broken (session gone, user logged out, a key
  // it served no longer found) it reconnects, but not more often than
  // every 1 s, doubling while attempts fail up to 30 s: key operations
  // need not come in for the token to recover.
  absl::StatusOr<KeyAttributes> PrivateKeyAttributes(absl::string_view label);
  absl::StatusOr<KeyAttributes> PrivateKeyAttributes(absl::string_view token_label,
                                                     absl::string_view label);

  // The CKA_LABELs of the private keys of token `token_label`, sorted (what
  // the connection indexed; diagnostics: which label holds a given key).
  // Unavailable when disconnected.
  absl::StatusOr<std::vector<std::string>> PrivateKeyLabels(absl::string_view token_label);

  // Drops the connection (unload module, which finalises it) and connects
  // again (reload, log in, re-index keys). Waits for running key operations.
  // Errors as Open(); on failure the Token stays disconnected and later
  // calls try to reconnect.
  absl::Status Reconnect();

  // OK, or the PermissionDenied of the login the token refused (final; see
  // above). Its message names the token and the CKR, never the PIN.
  absl::Status LoginRefused() const;

  // `listener` is called once, with LoginRefused(), when a login is
  // refused (at once if one already was). It runs with the Token locked:
  // it must not call the Token. Call once, before the Token is shared.
  void OnLoginRefused(std::function<void(const absl::Status&)> listener);

  const std::string& label() const { return config_.token_label; }

 private:
  Token(TokenConfig config, std::unique_ptr<Module> module);

  // Both require mu_ held exclusively.
  absl::Status ConnectLocked();
  void DisconnectLocked();

  // Asks token `token_label` directly whether the connection still serves
  // `label`. Requires mu_ held (shared is enough). An error means broken;
  // otherwise whether the token holds a private key labelled `label`.
  absl::StatusOr<bool> ProbeLocked(absl::string_view token_label, absl::string_view label);
  // DecryptOaep on an idle session of `token_label` (a new one when none
  // is idle). Requires mu_ held (shared is enough) and connection_.
  absl::StatusOr<std::string> DecryptOaepLocked(absl::string_view token_label,
                                                absl::string_view label,
                                                const crypto::RsaOaepParams& params,
                                                absl::string_view ciphertext);
  // Whether `token_label` is the main token or a further one.
  bool Serves(absl::string_view token_label) const;

  // ConnectLocked's work, without the refusal and backoff bookkeeping.
  absl::Status ConnectOnceLocked();
  // Reconnects unless another thread did since `seen_generation`.
  absl::Status ReconnectIfStale(uint64_t seen_generation);
  // The same, and only when the backoff after the last failed attempt
  // has passed (Unavailable with the last error otherwise).
  absl::Status ReconnectIfDue(uint64_t seen_generation);

  TokenConfig config_;
  std::unique_ptr<Module> module_;  // direct Cryptoki calls; same instance

  std::shared_mutex mu_;
  std::unique_ptr<Libp11Connection> connection_;  // guarded by mu_
  uint64_t generation_ = 0;                       // guarded by mu_; per connect
  // After a failed connect: no attempt by ReconnectIfDue before
  // next_attempt_; the wait doubles per failure. Guarded by mu_.
  absl::Duration backoff_ = kFirstBackoff;
  absl::Time next_attempt_ = absl::InfinitePast();
  std::string last_error_;
  static constexpr absl::Duration kFirstBackoff = absl::Seconds(1);
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(30);

  // Written once (under mu_ exclusively) before login_refused_set_.
  absl::Status login_refused_;
  std::atomic<bool> login_refused_set_{false};
  std::function<void(const absl::Status&)> on_login_refused_;  // guarded by mu_

  std::mutex monitor_mu_;  // serialises use of monitors_ under shared mu_
  // One session of our own per token (see ConnectLocked); guarded by mu_
  // and monitor_mu_.
  std::map<std::string, std::unique_ptr<Session>, std::less<>> monitors_;

  std::mutex idle_mu_;
  // Sessions for DecryptOaep not in use, per token; guarded by idle_mu_,
  // emptied under mu_ held exclusively (DisconnectLocked).
  std::map<std::string, std::vector<std::unique_ptr<Session>>, std::less<>> idle_sessions_;
};

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_TOKEN_H_
