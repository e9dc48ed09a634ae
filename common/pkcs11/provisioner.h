#ifndef SCEP_COMMON_PKCS11_PROVISIONER_H_
#define SCEP_COMMON_PKCS11_PROVISIONER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"
#include "common/pkcs11/key_attributes.h"
#include "common/pkcs11/key_spec.h"
#include "common/pkcs11/token.h"

namespace scep::pkcs11 {

// Labels and CKA_IDs of the service's key pairs.
inline constexpr char kCaKeyLabel[] = "scep-ca";
inline constexpr uint8_t kCaKeyId = 0x01;
inline constexpr char kRaKeyLabel[] = "scep-ra";
inline constexpr uint8_t kRaKeyId = 0x02;

struct ProvisionOptions {
  std::string module_path;
  std::string token_label;
  std::string user_pin;  // secret: never logged or put in a Status
  std::string so_pin;    // secret; only needed to create the token
  // When a token with `token_label` already exists: false fails with
  // AlreadyExists; true uses it, keeping keys that are already there (their
  // types must match) and generating the missing ones.
  bool reuse_existing_token = false;
  KeySpec ca_key = KeySpec::Rsa(2048);
  KeySpec ra_key = KeySpec::Rsa(2048);  // must be RSA: the RA decrypts
  std::string ca_subject = "CN=SCEP Dev CA";
  std::string ra_subject = "CN=SCEP Dev RA";
  // Non-empty: the RA subject as DER, used as it is instead of `ra_subject`
  // (RA renewal and rollover keep the subject of the RA certificate they
  // replace, which text cannot always carry: escaped characters,
  // multi-valued RDNs, attribute types without a name).
  std::string ra_subject_der;
  int ca_validity_days = 3650;
  int ra_validity_days = 730;
  // Key labels; other labels than the defaults provision a further issuing
  // CA (and its RA) in the same token, for profiles with their own CA.
  std::string ca_key_label = kCaKeyLabel;
  std::string ra_key_label = kRaKeyLabel;
  // Non-empty: the RA key pair is a software key in this PEM file (PKCS#8,
  // unencrypted, mode 0600) instead of a pair in the token, for HSMs that
  // refuse RSA PKCS#1 v1.5 decryption (DESIGN.md, "RA key placement"). An
  // existing file is kept and its key certified; otherwise one is generated
  // (`ra_key`). The token then gets no RA key pair.
  std::string ra_key_file;
  // Non-empty: the RA key pair is generated in this other token of the same
  // module instead of the CA's (DESIGN.md, "RA key placement"): an HSM
  // partition whose policy allows the RA's decryption while the CA's does
  // not. An existing token is used as it is (its keys kept, so one RA token
  // can hold the RA keys of several CAs); a missing one is initialised with
  // `so_pin`. Its user PIN is `ra_user_pin`, or `user_pin` when empty.
  std::string ra_token_label;
  std::string ra_user_pin;  // secret
  // With `ra_token_label`: the PKCS#11 module of that token when it is
  // another HSM's ("" = module_path).
  std::string ra_module_path;
};

// CKA_ID of the key pair labelled `label`: the historical one-byte ids for
// "scep-ca" and "scep-ra", otherwise the first 8 bytes of SHA-256(label),
// so key pairs of several CAs never share an id.
std::string KeyIdForLabel(absl::string_view label);

// What PrepareToken changed.
struct TokenSetup {
  bool token_created = false;
  bool ca_key_generated = false;
  bool ra_key_generated = false;  // in the token, or in ra_key_file
  bool ra_token_created = false;   // ra_token_label only
};

struct ServiceCertificates {
  crypto::X509Ptr ca;  // self-signed CA certificate of the CA key
  crypto::X509Ptr ra;  // RA certificate of the RA key, issued by ca
};

struct ProvisionResult {
  TokenSetup setup;
  ServiceCertificates certificates;
};

// Checks `options` without touching a token: user PIN present (and the SO
// PIN unless reusing a token), RA key RSA, subjects parse (`ra_subject_der`
// decodes, when set), validities 1 to kMaxValidityDays with the RA's not
// longer than the CA's, labels and token labels well-formed.
// InvalidArgument naming the problem. Every provisioning step runs it
// before it touches a token.
absl::Status ValidateProvisionOptions(const ProvisionOptions& options);

// Step 1, raw PKCS#11: initialises the token in a free slot (SO PIN, label),
// sets the user PIN, and generates the CA and RA key pairs inside it (see
// GenerateKeyPair); with `ra_key_file`, the CA key pair only; with
// `ra_token_label`, the RA key pair in that token (initialised if missing). Errors: AlreadyExists when the token exists and
// `reuse_existing_token` is false; FailedPrecondition when no free slot is
// left or an existing key has another type; PermissionDenied for wrong PINs.
// The module is finalised on return if this call initialised it, so do not
// run it while a Token on the same module is being opened elsewhere.
absl::StatusOr<TokenSetup> PrepareToken(const ProvisionOptions& options);

// Step 1 for the RA key alone, in tokens that exist (an RA key rollover):
// generates the RA key pair where `options` places it (the token,
// `ra_token_label`, or `ra_key_file` as EnsureRaKeyFile does) unless it is
// there. The CA key is not looked at, so `ca_key` does not matter. Returns
// whether it generated. FailedPrecondition when a token is missing (none is
// created) or an existing RA key has another type.
absl::StatusOr<bool> EnsureRaKey(const ProvisionOptions& options);

// Step 1b, with `ra_key_file` only: keeps the RSA key in that file, or
// generates one there (written to a temporary file with mode 0600, then
// renamed). Returns whether it generated. FailedPrecondition when the file
// exists but holds no unencrypted RSA private key.
absl::StatusOr<bool> EnsureRaKeyFile(const ProvisionOptions& options);

// Step 2: issues the CA certificate (self-signed) and the RA certificate
// (signed by the CA key) for the key pairs in `token` (the RA's public key
// from `ra_key_file`, or from `ra_token_label`, which `token` must then
// serve as a further token, or `ra_module_token` when it is of another
// module), signing in the token.
// With `existing_ca` (the CA certificate already in use, e.g. ca.pem when a
// token is reused) the CA certificate is kept, not issued again: its
// fingerprint is pinned in MDM profiles. It must be the certificate of the
// token's CA key (FailedPrecondition otherwise), and the RA certificate
// then ends no later than it.
absl::StatusOr<ServiceCertificates> IssueServiceCertificates(
    Token& token, const ProvisionOptions& options, Token* ra_module_token = nullptr,
    const X509* existing_ca = nullptr);

// `options.ra_subject_der` decoded; null when it is empty. InvalidArgument
// when it is not a DER Name or an empty one.
absl::StatusOr<crypto::X509NamePtr> DecodeRaSubject(const ProvisionOptions& options);

// The Token configuration that serves the keys `options` provisions: the
// CA's token, plus `ra_token_label` as a further token when it is of the
// same module.
TokenConfig ProvisionedTokenConfig(const ProvisionOptions& options);

// Whether the RA token is of another module (SameModuleFile) than the CA's, and the Token
// configuration for it then.
bool RaTokenInOtherModule(const ProvisionOptions& options);
TokenConfig RaModuleTokenConfig(const ProvisionOptions& options);

// Renews the RA certificate alone (it runs out first: 730 days by default
// against the CA's 3650): a new certificate for the RA key pair where
// `options` places it (the token, `ra_token_label`, or an existing
// `ra_key_file`), issued by `ca`, the CA certificate in use, with the CA key
// of the token, for `ra_validity_days` but never past `ca`. The CA
// certificate, and with it the fingerprint MDM profiles pin, stays as it is.
// FailedPrecondition when `ca` is not the certificate of the token's CA key,
// has less than a day left, or the RA key file is missing; NotFound when the
// token has no RA key. (IssueServiceCertificates with `existing_ca` = `ca`.)
absl::StatusOr<crypto::X509Ptr> RenewRaCertificate(const ProvisionOptions& options,
                                                   const X509* ca);

// Validate, step 1, then step 2 through a Token opened and closed here
// (keeping `existing_ca`, see IssueServiceCertificates).
absl::StatusOr<ProvisionResult> Provision(const ProvisionOptions& options,
                                          const X509* existing_ca = nullptr);

// Writes `dir`/ca.pem and `dir`/ra.pem, creating `dir` when missing.
absl::Status WriteServiceCertificates(const ServiceCertificates& certs,
                                      const std::string& dir);

// Whether `module_path` has an initialised token labelled `token_label`.
absl::StatusOr<bool> TokenExists(absl::string_view module_path,
                                 absl::string_view token_label);

// Logs in to the token of `config` and reads the attributes of its private
// key labelled `key_label` (diagnostics: is it sensitive, non-extractable).
// Safe while a Token on the same module is open: shares its login.
absl::StatusOr<KeyAttributes> InspectPrivateKey(const TokenConfig& config,
                                                absl::string_view key_label);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_PROVISIONER_H_
