// Provisioning, the token side: the token itself, its key pairs, the RA
// key file, and reading what a token holds.

#include "common/pkcs11/provisioner.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/pem.h"
#include "common/crypto/ssl_error.h"
#include "common/pkcs11/ckr.h"
#include "common/crypto/distinguished_name.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/key_generator.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {
namespace {

CK_UTF8CHAR* PinData(const std::string& pin) {
  // Cryptoki takes non-const pointers but only reads PINs and labels.
  return reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data()));
}

// Initialises a token in a free slot and sets its user PIN. Returns the
// token's slot, looked up again by label: SoftHSMv2 moves an initialised
// token to a new slot ID.
absl::StatusOr<CK_SLOT_ID> CreateToken(const Module& module,
                                       const ProvisionOptions& options) {
  if (options.so_pin.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token '", options.token_label,
        "' does not exist; the SO PIN is required to initialise it"));
  }
  ASSIGN_OR_RETURN(std::string padded_label,
                   PaddedTokenLabel(options.token_label));
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> free_slot,
                   module.FindUninitializedSlot());
  if (!free_slot.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no free (uninitialised) slot in '", module.path(), "'"));
  }
  CK_RV rv = module.functions()->C_InitToken(
      *free_slot, PinData(options.so_pin), options.so_pin.size(),
      reinterpret_cast<CK_UTF8CHAR*>(padded_label.data()));
  if (rv != CKR_OK) {
    return CkrError(
        absl::StrCat("initialising token '", options.token_label, "'"), rv);
  }
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot,
                   module.FindToken(options.token_label));
  if (!slot.has_value()) {
    return absl::InternalError(absl::StrCat(
        "token '", options.token_label, "' not found after C_InitToken"));
  }
  ASSIGN_OR_RETURN(Session session,
                   Session::Open(module, *slot, /*read_write=*/true));
  RETURN_IF_ERROR(session.Login(CKU_SO, options.so_pin, options.token_label));
  rv = module.functions()->C_InitPIN(session.handle(),
                                     PinData(options.user_pin),
                                     options.user_pin.size());
  if (rv != CKR_OK) {
    return CkrError(
        absl::StrCat("setting the user PIN of token '", options.token_label,
                     "'"),
        rv);
  }
  RETURN_IF_ERROR(session.Logout());
  return *slot;
}

// Generates the key pair unless the token already has it. True if generated.
// An existing key is used only when it is the only private key with its
// label and never left the token (CheckKeyProtected).
absl::StatusOr<bool> EnsureKeyPair(const Session& session, absl::string_view token_label,
                                   const KeySpec& spec, KeyUse use, absl::string_view label) {
  absl::StatusOr<KeyAttributes> existing =
      ReadPrivateKeyAttributes(session, label);
  if (existing.ok()) {
    if (existing->spec != spec) {
      return absl::FailedPreconditionError(
          absl::StrCat("key '", label, "' on the token is ", existing->type,
                       ", not the requested ", spec.Name()));
    }
    RETURN_IF_ERROR(CheckKeyProtected(*existing, token_label, label));
    return false;
  }
  if (absl::IsFailedPrecondition(existing.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "token '", token_label, "': ", existing.status().message()));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  RETURN_IF_ERROR(GenerateKeyPair(session, spec, use, label, KeyIdForLabel(label)));
  return true;
}

}  // namespace

std::string KeyIdForLabel(absl::string_view label) {
  if (label == kCaKeyLabel) return std::string(1, static_cast<char>(kCaKeyId));
  if (label == kRaKeyLabel) return std::string(1, static_cast<char>(kRaKeyId));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(label.data()), label.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), 8);
}

absl::Status ValidateProvisionOptions(const ProvisionOptions& options) {
  if (options.ca_key_label.empty() || options.ra_key_label.empty() ||
      options.ca_key_label.size() > 64 || options.ra_key_label.size() > 64) {
    return absl::InvalidArgumentError("key labels must be 1..64 bytes");
  }
  if (options.ca_key_label == options.ra_key_label) {
    return absl::InvalidArgumentError("the CA and RA keys need different labels");
  }
  if (options.user_pin.empty()) {
    return absl::InvalidArgumentError("the user PIN is required");
  }
  if (options.so_pin.empty() && !options.reuse_existing_token) {
    return absl::InvalidArgumentError(
        "the SO PIN is required to initialise a token");
  }
  RETURN_IF_ERROR(PaddedTokenLabel(options.token_label).status());
  if (!options.ra_key.is_rsa()) {
    return absl::InvalidArgumentError(
        "the RA key must be RSA: it decrypts request envelopes");
  }
  for (const auto& [what, subject] :
       {std::pair{"CA subject", &options.ca_subject},
        std::pair{"RA subject", &options.ra_subject}}) {
    if (subject == &options.ra_subject && !options.ra_subject_der.empty()) {
      absl::Status kept = DecodeRaSubject(options).status();
      if (!kept.ok()) return absl::InvalidArgumentError(kept.message());
      continue;
    }
    absl::StatusOr<crypto::X509NamePtr> name = crypto::ParseDistinguishedName(*subject);
    if (!name.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", name.status().message()));
    }
  }
  for (const auto& [what, days] : {std::pair{"CA validity", options.ca_validity_days},
                                    std::pair{"RA validity", options.ra_validity_days}}) {
    if (days < 1 || days > kMaxValidityDays) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " must be 1 to ", kMaxValidityDays, " days, got ", days));
    }
  }
  if (!options.ra_token_label.empty()) {
    if (!options.ra_key_file.empty()) {
      return absl::InvalidArgumentError(
          "the RA key goes in another token or in a file, not both");
    }
    if (options.ra_token_label == options.token_label && !RaTokenInOtherModule(options)) {
      return absl::InvalidArgumentError(
          "the RA token is the CA's token; leave the RA token label out");
    }
    RETURN_IF_ERROR(PaddedTokenLabel(options.ra_token_label).status());
  } else if (!options.ra_module_path.empty()) {
    return absl::InvalidArgumentError("an RA module needs the RA token's label");
  }
  if (options.ra_validity_days > options.ca_validity_days) {
    return absl::InvalidArgumentError(
        "the RA certificate cannot outlive the CA certificate");
  }
  return absl::OkStatus();
}

namespace {

// The RA key pair in token `ra_token_label` (of `module`, or of
// `ra_module_path`): that token initialised when missing and `may_create`,
// the key pair generated when missing.
absl::Status EnsureKeyInRaToken(const Module& module, const ProvisionOptions& options,
                                bool may_create, TokenSetup& setup) {
  ProvisionOptions ra = options;
  ra.token_label = options.ra_token_label;
  if (!options.ra_user_pin.empty()) ra.user_pin = options.ra_user_pin;
  std::unique_ptr<Module> other;  // another HSM's module, finalised on return
  const Module* ra_module = &module;
  if (RaTokenInOtherModule(options)) {
    ASSIGN_OR_RETURN(other, Module::Load(options.ra_module_path));
    RETURN_IF_ERROR(other->Initialize());
    ra_module = other.get();
  }
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> ra_slot, ra_module->FindToken(ra.token_label));
  if (!ra_slot.has_value()) {
    if (!may_create) {
      return absl::FailedPreconditionError(
          absl::StrCat("no initialised RA token labelled '", ra.token_label, "'"));
    }
    ASSIGN_OR_RETURN(ra_slot, CreateToken(*ra_module, ra));
    setup.ra_token_created = true;
  }
  ASSIGN_OR_RETURN(Session ra_session,
                   Session::Open(*ra_module, *ra_slot, /*read_write=*/true));
  RETURN_IF_ERROR(ra_session.Login(CKU_USER, ra.user_pin, ra.token_label));
  ASSIGN_OR_RETURN(setup.ra_key_generated,
                   EnsureKeyPair(ra_session, ra.token_label, options.ra_key,
                                 KeyUse::kSignAndDecrypt, options.ra_key_label));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenSetup> PrepareToken(const ProvisionOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Module> module,
                   Module::Load(options.module_path));
  RETURN_IF_ERROR(module->Initialize());

  TokenSetup setup;
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot,
                   module->FindToken(options.token_label));
  if (slot.has_value() && !options.reuse_existing_token) {
    return absl::AlreadyExistsError(
        absl::StrCat("token '", options.token_label, "' already exists"));
  }
  if (!slot.has_value()) {
    ASSIGN_OR_RETURN(slot, CreateToken(*module, options));
    setup.token_created = true;
  }
  ASSIGN_OR_RETURN(Session session,
                   Session::Open(*module, *slot, /*read_write=*/true));
  RETURN_IF_ERROR(
      session.Login(CKU_USER, options.user_pin, options.token_label));
  ASSIGN_OR_RETURN(setup.ca_key_generated,
                   EnsureKeyPair(session, options.token_label, options.ca_key, KeyUse::kSign,
                                 options.ca_key_label));
  if (options.ra_key_file.empty() && options.ra_token_label.empty()) {
    ASSIGN_OR_RETURN(setup.ra_key_generated,
                     EnsureKeyPair(session, options.token_label, options.ra_key,
                                   KeyUse::kSignAndDecrypt, options.ra_key_label));
  }
  if (!options.ra_token_label.empty()) {
    RETURN_IF_ERROR(EnsureKeyInRaToken(*module, options, /*may_create=*/true, setup));
  }
  return setup;
}

absl::StatusOr<bool> EnsureRaKey(const ProvisionOptions& options) {
  if (!options.ra_key_file.empty()) return EnsureRaKeyFile(options);
  ASSIGN_OR_RETURN(std::unique_ptr<Module> module, Module::Load(options.module_path));
  RETURN_IF_ERROR(module->Initialize());
  TokenSetup setup;
  if (!options.ra_token_label.empty()) {
    RETURN_IF_ERROR(EnsureKeyInRaToken(*module, options, /*may_create=*/false, setup));
    return setup.ra_key_generated;
  }
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot, module->FindToken(options.token_label));
  if (!slot.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no initialised token labelled '", options.token_label, "'"));
  }
  ASSIGN_OR_RETURN(Session session, Session::Open(*module, *slot, /*read_write=*/true));
  RETURN_IF_ERROR(session.Login(CKU_USER, options.user_pin, options.token_label));
  return EnsureKeyPair(session, options.token_label, options.ra_key, KeyUse::kSignAndDecrypt,
                       options.ra_key_label);
}

absl::StatusOr<bool> EnsureRaKeyFile(const ProvisionOptions& options) {
  const std::string& path = options.ra_key_file;
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    ASSIGN_OR_RETURN(crypto::EvpPkeyPtr key, crypto::LoadPrivateKeyFile(path));
    if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
      return absl::FailedPreconditionError(absl::StrCat(
          "RA key file '", path, "' holds no RSA key: the RA decrypts request envelopes"));
    }
    return false;
  }
  crypto::EvpPkeyPtr key(EVP_RSA_gen(static_cast<unsigned int>(options.ra_key.rsa_bits)));
  if (key == nullptr) return crypto::SslInternal("generating the RA key");
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  const std::string tmp = path + ".tmp";
  // O_EXCL: never write a key into a file someone else may already hold open.
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create '", tmp, "' (", std::strerror(errno), ")"));
  }
  crypto::BioPtr bio(BIO_new_fd(fd, BIO_CLOSE));
  const bool written =
      bio != nullptr &&
      PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0,
                                    nullptr, nullptr) == 1 &&
      BIO_flush(bio.get()) == 1 && fsync(fd) == 0;
  if (bio == nullptr) close(fd);
  bio.reset();
  if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write the RA key file '", path, "'"));
  }
  return true;
}

absl::StatusOr<bool> TokenExists(absl::string_view module_path,
                                 absl::string_view token_label) {
  ASSIGN_OR_RETURN(std::unique_ptr<Module> module, Module::Load(module_path));
  RETURN_IF_ERROR(module->Initialize());
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot,
                   module->FindToken(token_label));
  return slot.has_value();
}

absl::StatusOr<KeyAttributes> InspectPrivateKey(const TokenConfig& config,
                                                absl::string_view key_label) {
  ASSIGN_OR_RETURN(std::unique_ptr<Module> module,
                   Module::Load(config.module_path));
  RETURN_IF_ERROR(module->Initialize());
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot,
                   module->FindToken(config.token_label));
  if (!slot.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no initialised token labelled '", config.token_label, "'"));
  }
  ASSIGN_OR_RETURN(Session session,
                   Session::Open(*module, *slot, /*read_write=*/false));
  RETURN_IF_ERROR(session.Login(CKU_USER, config.pin, config.token_label));
  return ReadPrivateKeyAttributes(session, key_label);
}

}  // namespace scep::pkcs11
