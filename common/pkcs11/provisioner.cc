#include "common/pkcs11/provisioner.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/ssl_error.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioned_keys.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {
namespace {

// The RA key to certify, wherever `options` places it.
absl::StatusOr<crypto::EvpPkeyPtr> RaPublicKey(Token& token, const ProvisionOptions& options,
                                               Token* ra_module_token) {
  if (!options.ra_token_label.empty()) {
    Token& ra_token = ra_module_token != nullptr ? *ra_module_token : token;
    return ra_token.PublicKey(options.ra_token_label, options.ra_key_label);
  }
  if (options.ra_key_file.empty()) return token.PublicKey(options.ra_key_label);
  // Only its public half goes into the certificate.
  return crypto::LoadPrivateKeyFile(options.ra_key_file);
}

}  // namespace

absl::StatusOr<ServiceCertificates> IssueServiceCertificates(
    Token& token, const ProvisionOptions& options, Token* ra_module_token,
    const X509* existing_ca) {
  ServiceCertificates certs;
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr ca_public, token.PublicKey(options.ca_key_label));
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr ra_public,
                   RaPublicKey(token, options, ra_module_token));
  const EVP_MD* digest = options.ca_key.SignatureDigest();

  int ra_days = options.ra_validity_days;
  if (existing_ca != nullptr) {
    // Callers check first, naming the file and what to do on their path.
    RETURN_IF_ERROR(
        CheckCaCertificate(token, options, existing_ca, "the CA certificate in use").status());
    int days = 0, seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(existing_ca)) != 1) {
      return crypto::SslInternal("reading the CA certificate's notAfter");
    }
    ra_days = std::min(ra_days, days);
    certs.ca.reset(X509_dup(const_cast<X509*>(existing_ca)));
    if (certs.ca == nullptr) return crypto::SslInternal("copying the CA certificate");
  } else {
    CertificateRequest ca_request{CertificateRole::kCa, options.ca_subject,
                                  options.ca_validity_days, ca_public.get()};
    RETURN_IF_ERROR(token.WithPrivateKey(
        options.ca_key_label, [&](EVP_PKEY* ca_key) -> absl::Status {
          ASSIGN_OR_RETURN(certs.ca, IssueCertificate(ca_request, nullptr,
                                                      ca_key, digest));
          return absl::OkStatus();
        }));
  }

  ASSIGN_OR_RETURN(crypto::X509NamePtr kept_subject, DecodeRaSubject(options));
  CertificateRequest ra_request{CertificateRole::kRa, options.ra_subject, ra_days,
                                ra_public.get(), kept_subject.get()};
  RETURN_IF_ERROR(token.WithPrivateKey(
      options.ca_key_label, [&](EVP_PKEY* ca_key) -> absl::Status {
        ASSIGN_OR_RETURN(certs.ra, IssueCertificate(ra_request, certs.ca.get(),
                                                    ca_key, digest));
        return absl::OkStatus();
      }));
  return certs;
}

absl::StatusOr<crypto::X509NamePtr> DecodeRaSubject(const ProvisionOptions& options) {
  if (options.ra_subject_der.empty()) return crypto::X509NamePtr();
  ASSIGN_OR_RETURN(crypto::X509NamePtr name,
                   (crypto::FromDer<crypto::X509NamePtr>(options.ra_subject_der, d2i_X509_NAME,
                                                         "RA subject")));
  if (X509_NAME_entry_count(name.get()) == 0) {
    return absl::InvalidArgumentError("RA subject: distinguished name is empty");
  }
  return name;
}

bool RaTokenInOtherModule(const ProvisionOptions& options) {
  return !options.ra_token_label.empty() && !options.ra_module_path.empty() &&
         !SameModuleFile(options.ra_module_path, options.module_path);
}

TokenConfig RaModuleTokenConfig(const ProvisionOptions& options) {
  return {options.ra_module_path, options.ra_token_label,
          options.ra_user_pin.empty() ? options.user_pin : options.ra_user_pin, {}};
}

TokenConfig ProvisionedTokenConfig(const ProvisionOptions& options) {
  TokenConfig config{options.module_path, options.token_label, options.user_pin, {}};
  if (!options.ra_token_label.empty() && !RaTokenInOtherModule(options)) {
    config.further_tokens.push_back(
        {options.ra_token_label,
         options.ra_user_pin.empty() ? options.user_pin : options.ra_user_pin});
  }
  return config;
}

absl::StatusOr<crypto::X509Ptr> RenewRaCertificate(const ProvisionOptions& options,
                                                   const X509* ca) {
  ProvisionOptions checked = options;
  checked.reuse_existing_token = true;  // the tokens exist: no SO PIN needed
  // Capped below at the CA certificate's real notAfter instead.
  checked.ca_validity_days = std::max(checked.ca_validity_days, checked.ra_validity_days);
  RETURN_IF_ERROR(ValidateProvisionOptions(checked));
  ASSIGN_OR_RETURN(ProvisionedTokens tokens, OpenProvisionedTokens(options));
  // The CA key's own type decides the digest, whatever `ca_key` says.
  ASSIGN_OR_RETURN(KeyAttributes ca_attributes,
                   tokens.main->PrivateKeyAttributes(options.ca_key_label));
  RETURN_IF_ERROR(CheckKeyProtected(ca_attributes, options.token_label, options.ca_key_label));
  checked.ca_key = ca_attributes.spec;
  ASSIGN_OR_RETURN(ServiceCertificates certs,
                   IssueServiceCertificates(*tokens.main, checked, tokens.ra_module.get(), ca));
  return std::move(certs.ra);
}

absl::StatusOr<ProvisionResult> Provision(const ProvisionOptions& options,
                                          const X509* existing_ca) {
  RETURN_IF_ERROR(ValidateProvisionOptions(options));
  ProvisionResult result;
  ASSIGN_OR_RETURN(result.setup, PrepareToken(options));
  if (!options.ra_key_file.empty()) {
    ASSIGN_OR_RETURN(result.setup.ra_key_generated, EnsureRaKeyFile(options));
  }
  ASSIGN_OR_RETURN(ProvisionedTokens tokens, OpenProvisionedTokens(options));
  ASSIGN_OR_RETURN(result.certificates,
                   IssueServiceCertificates(*tokens.main, options, tokens.ra_module.get(),
                                            existing_ca));
  return result;
}

absl::Status WriteServiceCertificates(const ServiceCertificates& certs,
                                      const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create '", dir, "': ", error.message()));
  }
  const std::filesystem::path base(dir);
  RETURN_IF_ERROR(WriteCertificatePem(certs.ca.get(), (base / "ca.pem").string()));
  return WriteCertificatePem(certs.ra.get(), (base / "ra.pem").string());
}

}  // namespace scep::pkcs11
