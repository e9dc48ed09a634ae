#ifndef SCEP_COMMON_PKCS11_PROVISIONED_KEYS_H_
#define SCEP_COMMON_PKCS11_PROVISIONED_KEYS_H_

#include <openssl/x509.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pkcs11/key_attributes.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/token.h"

namespace scep::pkcs11 {

// Read-only checks that provisioning steps on keys already in use (RA
// renewal, RA key rollover, CA import) run before they change a token or a
// file: a step that cannot finish must fail while nothing has changed yet,
// or it leaves the signer without a usable key.

// The Tokens serving the keys `options` provisions: the CA's (with a
// further RA token of its module), and the RA token's when it is of another
// module.
struct ProvisionedTokens {
  std::unique_ptr<Token> main;
  std::unique_ptr<Token> ra_module;  // null unless RaTokenInOtherModule
};

// Opens (and logs in to) the tokens of `options`; errors as Token::Open.
// Close them before changing a token with raw Cryptoki calls: see
// PrepareToken about the module being finalised.
absl::StatusOr<ProvisionedTokens> OpenProvisionedTokens(const ProvisionOptions& options);

// Checks that `ca` (`ca_name` in messages: "'pki/ca.pem'") certifies the
// CA key labelled `options.ca_key_label` in the token and has at least a day left, and that
// the key is the only one with its label and never left the token
// (CheckKeyProtected). Returns that key's attributes: its own type decides
// the digest, whatever `options.ca_key` says. NotFound when the token has
// no such key; FailedPrecondition when `ca` certifies another key, naming
// the file, the label and the label of the token's key it certifies, if
// any, or when it has less than a day left. `hint` (what to do on the
// caller's path) is appended to the NotFound and the mismatch messages.
absl::StatusOr<KeyAttributes> CheckCaCertificate(Token& token, const ProvisionOptions& options,
                                                 const X509* ca, absl::string_view ca_name,
                                                 absl::string_view hint = "");

// The public half of the RA key where `options` places it (its previous
// key, when `previous`): in the CA's token or `ra_token_label`, checked to
// be the only private key with its label and protected
// (CheckKeyProtected), or the key of `ra_key_file`. NotFound when there is
// none (naming the label or the file); nothing is created.
absl::StatusOr<crypto::EvpPkeyPtr> CheckRaKey(ProvisionedTokens& tokens,
                                              const ProvisionOptions& options, bool previous);

// Checks that `cert`, read from `cert_path`, certifies the RA key where
// `options` places it: labelled `options.ra_key_label` (or its previous
// label, when `previous`) in the CA's token or `ra_token_label`, or in
// `options.ra_key_file` (or its previous file). NotFound when that key does
// not exist; FailedPrecondition when several private keys carry the label
// or the key may exist outside the token (CheckKeyProtected), or when
// `cert` certifies another key, naming
// the file, the label (or key file) and the label of the token's key it
// certifies, if any, with the --ra-label to pass.
absl::Status CheckRaCertificate(ProvisionedTokens& tokens, const ProvisionOptions& options,
                                bool previous, const X509* cert, absl::string_view cert_path);

// CheckCaCertificate on the CA's token alone (opened and closed here), for
// a reused token whose CA certificate is kept (Provision's `existing_ca`).
absl::Status CheckExistingCaCertificate(const ProvisionOptions& options, const X509* ca,
                                        absl::string_view ca_name, absl::string_view hint);

// What an RA renewal (RenewRaCertificate under `ca`, read from `ca_path`)
// checks before it writes anything: the tokens open, `ca` certifies the
// token's CA key (CheckCaCertificate), and `current_ra`, the RA certificate
// in use read from `ra_path` (null when there is none), certifies the RA key
// where `options` places it (CheckRaCertificate): a renewal keeps the key,
// and certifying another one would hand devices an RA of another CA.
absl::Status CheckBeforeRaRenewal(const ProvisionOptions& options, const X509* ca,
                                  absl::string_view ca_path, const X509* current_ra,
                                  absl::string_view ra_path);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_PROVISIONED_KEYS_H_
