#include "common/pkcs11/provisioned_keys.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/pem.h"
#include "common/pkcs11/ra_rollover.h"

namespace scep::pkcs11 {
namespace {

bool FileExists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

// The label of a private key of `token_label` whose public half is `key`;
// empty when there is none.
absl::StatusOr<std::string> LabelOfKey(Token& token, absl::string_view token_label,
                                       const EVP_PKEY* key) {
  ASSIGN_OR_RETURN(std::vector<std::string> labels, token.PrivateKeyLabels(token_label));
  for (const std::string& label : labels) {
    absl::StatusOr<crypto::EvpPkeyPtr> candidate = token.PublicKey(token_label, label);
    if (candidate.ok() && EVP_PKEY_eq(candidate->get(), key) == 1) return label;
  }
  return std::string();
}

}  // namespace

absl::StatusOr<ProvisionedTokens> OpenProvisionedTokens(const ProvisionOptions& options) {
  ProvisionedTokens tokens;
  ASSIGN_OR_RETURN(tokens.main, Token::Open(ProvisionedTokenConfig(options)));
  if (RaTokenInOtherModule(options)) {
    ASSIGN_OR_RETURN(tokens.ra_module, Token::Open(RaModuleTokenConfig(options)));
  }
  return tokens;
}

absl::StatusOr<KeyAttributes> CheckCaCertificate(Token& token, const ProvisionOptions& options,
                                                 const X509* ca, absl::string_view ca_name,
                                                 absl::string_view hint) {
  const std::string& label = options.ca_key_label;
  absl::StatusOr<KeyAttributes> attributes = token.PrivateKeyAttributes(label);
  if (absl::IsNotFound(attributes.status())) {
    return absl::NotFoundError(absl::StrCat("token '", options.token_label,
                                            "' has no CA key labelled '", label, "' for ",
                                            ca_name, hint));
  }
  if (!attributes.ok()) return attributes.status();
  RETURN_IF_ERROR(CheckKeyProtected(*attributes, options.token_label, label));
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr ca_public, token.PublicKey(label));
  if (EVP_PKEY_eq(ca_public.get(), X509_get0_pubkey(ca)) != 1) {
    ASSIGN_OR_RETURN(std::string other,
                     LabelOfKey(token, options.token_label, X509_get0_pubkey(ca)));
    std::string message = absl::StrCat(ca_name, " is not for the token's CA key '", label,
                                       "' (token '", options.token_label, "')");
    if (!other.empty()) {
      absl::StrAppend(&message, "; it certifies the key labelled '", other,
                      "': pass --ca-label ", other, " (and the --ra-label of its RA)");
    }
    absl::StrAppend(&message, hint);
    return absl::FailedPreconditionError(message);
  }
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(ca)) != 1 || days < 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA certificate ", ca_name, " has less than a day left"));
  }
  return attributes;
}

absl::StatusOr<crypto::EvpPkeyPtr> CheckRaKey(ProvisionedTokens& tokens,
                                              const ProvisionOptions& options, bool previous) {
  if (!options.ra_key_file.empty()) {
    const std::string file = previous ? PreviousPath(options.ra_key_file) : options.ra_key_file;
    if (!FileExists(file)) {
      return absl::NotFoundError(absl::StrCat("there is no RA key file '", file, "'"));
    }
    return crypto::LoadPrivateKeyFile(file);
  }
  const std::string label =
      previous ? PreviousRaKeyLabel(options.ra_key_label) : options.ra_key_label;
  const std::string& token_label =
      options.ra_token_label.empty() ? options.token_label : options.ra_token_label;
  Token& token = tokens.ra_module != nullptr ? *tokens.ra_module : *tokens.main;
  absl::StatusOr<KeyAttributes> attributes = token.PrivateKeyAttributes(token_label, label);
  if (absl::IsNotFound(attributes.status())) {
    return absl::NotFoundError(absl::StrCat("token '", token_label,
                                            "' has no RA key labelled '", label, "'"));
  }
  if (!attributes.ok()) return attributes.status();
  RETURN_IF_ERROR(CheckKeyProtected(*attributes, token_label, label));
  return token.PublicKey(token_label, label);
}

absl::Status CheckRaCertificate(ProvisionedTokens& tokens, const ProvisionOptions& options,
                                bool previous, const X509* cert, absl::string_view cert_path) {
  const EVP_PKEY* certified = X509_get0_pubkey(cert);
  if (certified == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("'", cert_path, "' holds no public key"));
  }
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr key, CheckRaKey(tokens, options, previous));
  if (!options.ra_key_file.empty()) {
    const std::string file = previous ? PreviousPath(options.ra_key_file) : options.ra_key_file;
    if (EVP_PKEY_eq(key.get(), certified) != 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", cert_path, "' does not certify the key in RA key file '", file,
          "'; pass the --ra-key-file (and --out-dir) that belong together"));
    }
    return absl::OkStatus();
  }
  const std::string label =
      previous ? PreviousRaKeyLabel(options.ra_key_label) : options.ra_key_label;
  const std::string& token_label =
      options.ra_token_label.empty() ? options.token_label : options.ra_token_label;
  Token& token = tokens.ra_module != nullptr ? *tokens.ra_module : *tokens.main;
  if (EVP_PKEY_eq(key.get(), certified) == 1) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string other, LabelOfKey(token, token_label, certified));
  std::string message = absl::StrCat("'", cert_path, "' does not certify RA key '", label,
                                     "' in token '", token_label, "'");
  if (!other.empty()) {
    absl::StrAppend(&message, "; it certifies the key labelled '", other, "'");
    const std::string suffix = PreviousRaKeyLabel("");
    if (!absl::EndsWith(other, suffix)) {
      absl::StrAppend(&message, ": pass --ra-label ", other, " (and the --ca-label of its CA)");
    }
  }
  return absl::FailedPreconditionError(message);
}

absl::Status CheckExistingCaCertificate(const ProvisionOptions& options, const X509* ca,
                                        absl::string_view ca_name, absl::string_view hint) {
  ASSIGN_OR_RETURN(std::unique_ptr<Token> token,
                   Token::Open({options.module_path, options.token_label, options.user_pin, {}}));
  return CheckCaCertificate(*token, options, ca, ca_name, hint).status();
}

absl::Status CheckBeforeRaRenewal(const ProvisionOptions& options, const X509* ca,
                                  absl::string_view ca_path, const X509* current_ra,
                                  absl::string_view ra_path) {
  ASSIGN_OR_RETURN(ProvisionedTokens tokens, OpenProvisionedTokens(options));
  RETURN_IF_ERROR(
      CheckCaCertificate(*tokens.main, options, ca, absl::StrCat("'", ca_path, "'")).status());
  if (current_ra == nullptr) return absl::OkStatus();
  return CheckRaCertificate(tokens, options, /*previous=*/false, current_ra, ra_path);
}

}  // namespace scep::pkcs11
