#include "common/pkcs11/subordinate_ca.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/ca_chain.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "common/pkcs11/cert_builder.h"
#include "common/crypto/distinguished_name.h"
#include "common/pkcs11/provisioned_keys.h"
#include "common/pkcs11/token.h"

namespace scep::pkcs11 {
namespace {

absl::Status AddRequestedExtensions(X509_REQ* request) {
  struct FreeExtensions {
    void operator()(STACK_OF(X509_EXTENSION)* stack) const {
      sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
    }
  };
  std::unique_ptr<STACK_OF(X509_EXTENSION), FreeExtensions> extensions(
      sk_X509_EXTENSION_new_null());
  if (extensions == nullptr) return crypto::SslInternal("extensions");
  for (const auto& [nid, value] :
       {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
        std::pair<int, const char*>{NID_key_usage, "critical,keyCertSign,cRLSign"}}) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, nullptr, nid, value);
    if (extension == nullptr || sk_X509_EXTENSION_push(extensions.get(), extension) <= 0) {
      X509_EXTENSION_free(extension);
      return crypto::SslInternal("CA request extensions");
    }
  }
  if (X509_REQ_add_extensions(request, extensions.get()) != 1) {
    return crypto::SslInternal("CA request extensions");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CaCertificateRequest(const ProvisionOptions& options) {
  RETURN_IF_ERROR(ValidateProvisionOptions(options));
  RETURN_IF_ERROR(PrepareToken(options).status());
  if (!options.ra_key_file.empty()) RETURN_IF_ERROR(EnsureRaKeyFile(options).status());
  ASSIGN_OR_RETURN(std::unique_ptr<Token> token, Token::Open(ProvisionedTokenConfig(options)));
  // The CA key's own type decides the digest, whatever `ca_key` says.
  ASSIGN_OR_RETURN(KeyAttributes attributes, token->PrivateKeyAttributes(options.ca_key_label));
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr public_key, token->PublicKey(options.ca_key_label));
  ASSIGN_OR_RETURN(crypto::X509NamePtr subject, crypto::ParseDistinguishedName(options.ca_subject));
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> request(X509_REQ_new(), X509_REQ_free);
  if (request == nullptr || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_subject_name(request.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(request.get(), public_key.get()) != 1) {
    return crypto::SslInternal("CA certificate request");
  }
  RETURN_IF_ERROR(AddRequestedExtensions(request.get()));
  RETURN_IF_ERROR(token->WithPrivateKey(options.ca_key_label, [&](EVP_PKEY* key) -> absl::Status {
    if (X509_REQ_sign(request.get(), key, attributes.spec.SignatureDigest()) <= 0) {
      return crypto::SslInternal("signing the CA certificate request with the CA key");
    }
    return absl::OkStatus();
  }));
  return crypto::ToDer(request.get(), i2d_X509_REQ);
}

absl::StatusOr<crypto::X509Ptr> ImportCaCertificate(const ProvisionOptions& options, X509* ca,
                                                    const std::vector<crypto::X509Ptr>& chain,
                                                    const std::string& dir,
                                                    absl::string_view ca_name) {
  RETURN_IF_ERROR(crypto::VerifyCaChain(ca, chain));
  ProvisionOptions reuse = options;
  reuse.reuse_existing_token = true;
  // The RA is capped at the imported CA's notAfter instead.
  reuse.ca_validity_days = std::max(reuse.ca_validity_days, reuse.ra_validity_days);
  RETURN_IF_ERROR(ValidateProvisionOptions(reuse));
  // The keys --ca-csr left in the token, looked up before anything else:
  // nothing is generated here, so a mistyped label creates no key pair in
  // a production token.
  {
    ASSIGN_OR_RETURN(ProvisionedTokens tokens, OpenProvisionedTokens(reuse));
    absl::Status ca_key =
        CheckCaCertificate(*tokens.main, reuse, ca, ca_name,
                           "; import the certificate issued for this token's request "
                           "(--ca-csr), with the same --ca-label")
            .status();
    if (absl::IsNotFound(ca_key)) {
      return absl::FailedPreconditionError(absl::StrCat(
          ca_key.message(), "; --import-ca uses the CA key --ca-csr generated: pass its "
          "--ca-label (nothing was created)"));
    }
    RETURN_IF_ERROR(ca_key);
    absl::Status ra_key = CheckRaKey(tokens, reuse, /*previous=*/false).status();
    if (absl::IsNotFound(ra_key)) {
      return absl::FailedPreconditionError(absl::StrCat(
          ra_key.message(), "; --import-ca certifies the RA key --ca-csr generated: pass the "
          "same --ra-label, --ra-token-label or --ra-key-file (nothing was created)"));
    }
    RETURN_IF_ERROR(ra_key);
  }
  ASSIGN_OR_RETURN(crypto::X509Ptr ra, RenewRaCertificate(reuse, ca));
  // Before anything is written: devices verify CertReps with the RA
  // certificate up to the root, whose constraints (names, ...) it must obey.
  absl::Status ra_verifies = crypto::VerifyIssuedUnderCaChain(ra.get(), ca, chain);
  if (!ra_verifies.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the RA certificate the CA would issue: ", ra_verifies.message(),
        "; nothing written (another --ra-subject?)"));
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  const std::filesystem::path base(dir);
  std::vector<const X509*> chain_certs;
  for (const crypto::X509Ptr& cert : chain) chain_certs.push_back(cert.get());
  RETURN_IF_ERROR(WriteCertificatesPem(chain_certs, (base / "ca-chain.pem").string()));
  RETURN_IF_ERROR(WriteCertificatePem(ca, (base / "ca.pem").string()));
  RETURN_IF_ERROR(WriteCertificatePem(ra.get(), (base / "ra.pem").string()));
  return ra;
}

}  // namespace scep::pkcs11
