#include "services/provision/provision_command.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/base/secret.h"
#include "common/base/status_macros.h"
#include "common/crypto/ca_chain.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_ptr.h"
#include "common/pkcs11/cert_builder.h"
#include "common/crypto/distinguished_name.h"
#include "common/pkcs11/provisioned_keys.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/ra_rollover.h"
#include "common/pkcs11/subordinate_ca.h"

namespace scep::provision {
namespace {

constexpr char kPinEnv[] = "SCEP_HSM_PIN";
constexpr char kSoPinEnv[] = "SCEP_HSM_SO_PIN";
constexpr char kRaPinEnv[] = "SCEP_RA_HSM_PIN";

void PrintSummary(const pkcs11::ProvisionOptions& options,
                  const pkcs11::ProvisionResult& result,
                  const std::string& fingerprint, const std::string& ca_path,
                  const std::string& ra_path, std::ostream& out) {
  auto note = [](bool changed, const char* yes, const char* no) {
    return changed ? yes : no;
  };
  const pkcs11::TokenSetup& setup = result.setup;
  out << "token:          " << options.token_label << " ("
      << note(setup.token_created, "created", "existing") << ")\n";
  if (!options.ra_token_label.empty()) {
    out << "RA token:       " << options.ra_token_label << " ("
        << note(setup.ra_token_created, "created", "existing") << ")";
    if (pkcs11::RaTokenInOtherModule(options)) out << " of " << options.ra_module_path;
    out << "\n";
  }
  out
      << "CA key:         " << options.ca_key_label << ", "
      << options.ca_key.Name() << " ("
      << note(setup.ca_key_generated, "generated", "existing") << ")\n"
      << "RA key:         "
      << (!options.ra_key_file.empty()      ? "file " + options.ra_key_file
          : !options.ra_token_label.empty() ? options.ra_key_label + " in token " +
                                                  options.ra_token_label
                                            : options.ra_key_label)
      // From the certificate: a kept key file may have another size.
      << ", RSA-" << EVP_PKEY_get_bits(X509_get0_pubkey(result.certificates.ra.get()))
      << " ("
      << note(setup.ra_key_generated, "generated", "existing") << ")\n"
      << "CA subject:     "
      << crypto::FormatDistinguishedName(
             X509_get_subject_name(result.certificates.ca.get()))
      << "\n"
      << "CA SHA-256:     " << fingerprint << "\n"
      << "CA certificate: " << ca_path << "\n"
      << "RA certificate: " << ra_path << "\n";
}

}  // namespace

absl::StatusOr<std::string> ReadSecret(const std::string& file,
                                       const char* env_var,
                                       absl::string_view what) {
  // The signer reads its PIN files the same way: the token compares bytes.
  if (!file.empty()) return base::ReadPinFile(std::string(what), file);
  std::optional<std::string> value = base::TakeSecretFromEnv(env_var);
  if (!value.has_value()) {
    return absl::NotFoundError(absl::StrCat("no ", what, ": set $", env_var,
                                            " or pass a file"));
  }
  if (value->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("$", env_var, " is empty"));
  }
  return *std::move(value);
}

namespace {

// The RA token's user PIN into `options` when it has its own (file or
// $SCEP_RA_HSM_PIN); otherwise it shares the user PIN.
absl::Status ReadRaPin(const CommandLine& command_line, pkcs11::ProvisionOptions& options) {
  if (options.ra_token_label.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> ra_pin =
      ReadSecret(command_line.ra_pin_file, kRaPinEnv, "RA token user PIN");
  if (ra_pin.ok()) {
    options.ra_user_pin = *std::move(ra_pin);
  } else if (!command_line.ra_pin_file.empty() || !absl::IsNotFound(ra_pin.status())) {
    return ra_pin.status();  // without a file or variable: the user PIN
  }
  return absl::OkStatus();
}

// The user PIN, and the RA token's when it has its own.
absl::Status ReadUserPins(const CommandLine& command_line, pkcs11::ProvisionOptions& options) {
  ASSIGN_OR_RETURN(options.user_pin, ReadSecret(command_line.pin_file, kPinEnv, "user PIN"));
  return ReadRaPin(command_line, options);
}

// The SO PIN: required unless the token is reused (it initialises tokens).
absl::Status ReadSoPin(const CommandLine& command_line, pkcs11::ProvisionOptions& options) {
  absl::StatusOr<std::string> so_pin = ReadSecret(command_line.so_pin_file, kSoPinEnv, "SO PIN");
  if (so_pin.ok()) {
    options.so_pin = *std::move(so_pin);
  } else if (!options.reuse_existing_token || !absl::IsNotFound(so_pin.status())) {
    return so_pin.status();  // only a reused token can do without it
  }
  return absl::OkStatus();
}

// What --renew-ra and --rollover-ra share: the CA certificate in use, the
// RA subject kept from the current RA certificate (unless --ra-subject), the
// PINs. The subject is carried as DER: its text form would lose escaped
// characters, multi-valued RDNs and attribute types without a name.
absl::StatusOr<crypto::X509Ptr> PrepareRaChange(CommandLine& command_line,
                                                const std::string& ca_path,
                                                const std::string& ra_path) {
  pkcs11::ProvisionOptions& options = command_line.options;
  ASSIGN_OR_RETURN(crypto::X509Ptr ca, pkcs11::ReadCertificatePem(ca_path));
  absl::StatusOr<crypto::X509Ptr> old = pkcs11::ReadCertificatePem(ra_path);
  if (old.ok() && !command_line.ra_subject_given) {
    ASSIGN_OR_RETURN(options.ra_subject_der,
                     crypto::ToDer(X509_get_subject_name(old->get()), i2d_X509_NAME));
  }
  RETURN_IF_ERROR(ReadUserPins(command_line, options));
  return ca;
}

void PrintRaCertificate(const X509* ra, const X509* ca, const std::string& ra_path,
                        const std::string& ca_path, std::ostream& out) {
  char not_after[64] = "";
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio != nullptr && ASN1_TIME_print(bio.get(), X509_get0_notAfter(ra)) == 1) {
    BIO_read(bio.get(), not_after, sizeof(not_after) - 1);
  }
  out << "RA certificate: " << ra_path << "\n"
      << "RA subject:     " << crypto::FormatDistinguishedName(X509_get_subject_name(ra))
      << "\n"
      << "RA not after:   " << not_after << "\n"
      << "CA certificate: " << ca_path << " unchanged\n"
      << "CA SHA-256:     " << pkcs11::Sha256Fingerprint(ca).value_or("?") << "\n";
}

absl::Status RunRenewRa(CommandLine command_line, std::ostream& out) {
  pkcs11::ProvisionOptions& options = command_line.options;
  const std::filesystem::path dir(command_line.out_dir);
  const std::string ca_path = (dir / "ca.pem").string();
  const std::string ra_path = (dir / "ra.pem").string();
  const std::string previous_path = pkcs11::PreviousPath(ra_path);
  ASSIGN_OR_RETURN(crypto::X509Ptr ca, PrepareRaChange(command_line, ca_path, ra_path));
  // ra-previous.pem belongs to that rollover's previous key until dropped.
  ASSIGN_OR_RETURN(bool previous_key, pkcs11::PreviousRaKeyExists(options));
  if (previous_key) {
    return absl::FailedPreconditionError(
        "the previous RA key of an RA key rollover is still kept; once devices no longer "
        "use it, drop it (--drop-previous-ra) before renewing");
  }
  absl::StatusOr<crypto::X509Ptr> old = pkcs11::ReadCertificatePem(ra_path);
  if (!old.ok() && !absl::IsNotFound(old.status())) return old.status();
  const X509* old_ra = old.ok() ? old->get() : nullptr;
  RETURN_IF_ERROR(
      pkcs11::CheckBeforeRaRenewal(options, ca.get(), ca_path, old_ra, ra_path));
  ASSIGN_OR_RETURN(crypto::X509Ptr renewed, pkcs11::RenewRaCertificate(options, ca.get()));
  if (old_ra != nullptr &&
      EVP_PKEY_eq(X509_get0_pubkey(renewed.get()), X509_get0_pubkey(old_ra)) != 1) {
    return absl::InternalError(
        absl::StrCat("the renewed RA certificate is not for the key of '", ra_path,
                     "'; nothing written"));
  }
  // The old certificate first: devices that fetched it keep enrolling.
  if (old_ra != nullptr) RETURN_IF_ERROR(pkcs11::WriteCertificatePem(old_ra, previous_path));
  RETURN_IF_ERROR(pkcs11::WriteCertificatePem(renewed.get(), ra_path));
  out << "RA certificate renewed (same RA key)\n";
  PrintRaCertificate(renewed.get(), ca.get(), ra_path, ca_path, out);
  if (old_ra != nullptr) {
    out << "Previous RA:    " << previous_path
        << " (requests encrypted to it are still accepted)\n";
  }
  out << "Restart (roll out) the signer to serve the new RA certificate.\n";
  return absl::OkStatus();
}

absl::Status RunRolloverRa(CommandLine command_line, std::ostream& out) {
  const std::filesystem::path dir(command_line.out_dir);
  const std::string ca_path = (dir / "ca.pem").string();
  const std::string ra_path = (dir / "ra.pem").string();
  ASSIGN_OR_RETURN(crypto::X509Ptr ca, PrepareRaChange(command_line, ca_path, ra_path));
  const pkcs11::ProvisionOptions& options = command_line.options;
  ASSIGN_OR_RETURN(pkcs11::RaRollover rolled,
                   pkcs11::RollOverRaKey(options, ca.get(), command_line.out_dir));
  out << (rolled.resumed ? "RA key rollover completed (it had been interrupted)\n"
                         : "RA key rolled over: a new RA key\n");
  PrintRaCertificate(rolled.ra.get(), ca.get(), ra_path, ca_path, out);
  out << "Previous RA:    " << pkcs11::PreviousPath(ra_path) << ", key "
      << (options.ra_key_file.empty()
              ? "'" + pkcs11::PreviousRaKeyLabel(options.ra_key_label) + "' in the token"
              : pkcs11::PreviousPath(options.ra_key_file))
      << " (requests encrypted to it are still accepted)\n"
      << "Restart (roll out) the signer to serve the new RA certificate. Once\n"
      << "scep_signer_previous_ra_decryptions_total stays flat, run --drop-previous-ra.\n";
  return absl::OkStatus();
}

absl::Status RunDropPreviousRa(CommandLine command_line, std::ostream& out) {
  pkcs11::ProvisionOptions& options = command_line.options;
  if (options.ra_key_file.empty()) RETURN_IF_ERROR(ReadUserPins(command_line, options));
  ASSIGN_OR_RETURN(pkcs11::DroppedPreviousRa dropped,
                   pkcs11::DropPreviousRa(options, command_line.out_dir));
  const std::string previous_path =
      pkcs11::PreviousPath((std::filesystem::path(command_line.out_dir) / "ra.pem").string());
  out << "Previous RA certificate " << previous_path
      << (dropped.certificate ? " removed\n" : " was not there\n")
      << "Previous RA key " << (dropped.key ? "removed\n" : "was not there (a renewal keeps the key)\n")
      << "Restart (roll out) the signer: requests encrypted to the previous RA\n"
      << "certificate are then refused.\n";
  return absl::OkStatus();
}

absl::Status RunCaCsr(CommandLine command_line, std::ostream& out) {
  pkcs11::ProvisionOptions& options = command_line.options;
  ASSIGN_OR_RETURN(options.reuse_existing_token,
                   pkcs11::TokenExists(options.module_path, options.token_label));
  RETURN_IF_ERROR(ReadUserPins(command_line, options));
  RETURN_IF_ERROR(ReadSoPin(command_line, options));  // when the token is created
  ASSIGN_OR_RETURN(std::string request, pkcs11::CaCertificateRequest(options));
  const auto* p = reinterpret_cast<const unsigned char*>(request.data());
  crypto::X509ReqPtr parsed(d2i_X509_REQ(nullptr, &p, static_cast<long>(request.size())));
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (parsed == nullptr || bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), parsed.get()) != 1) {
    return absl::InternalError("PEM encoding the CA certificate request");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  {
    std::ofstream file(command_line.ca_csr, std::ios::binary | std::ios::trunc);
    file.write(data, size);
    if (!file) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write '", command_line.ca_csr, "'"));
    }
  }
  out << "CA key:         '" << options.ca_key_label << "' in token '" << options.token_label
      << "' (" << (options.reuse_existing_token ? "existing token" : "token created") << ")\n"
      << "CA request:     " << command_line.ca_csr << " (subject " << options.ca_subject
      << ")\n"
      << "Have your root (or policy) CA sign it as a CA certificate with keyCertSign and\n"
      << "cRLSign, then run --import-ca CERT --ca-chain CHAIN with the same token options.\n";
  return absl::OkStatus();
}

absl::Status RunImportCa(CommandLine command_line, std::ostream& out) {
  pkcs11::ProvisionOptions& options = command_line.options;
  ASSIGN_OR_RETURN(crypto::X509Ptr ca, pkcs11::ReadCertificatePem(command_line.import_ca));
  ASSIGN_OR_RETURN(std::vector<crypto::X509Ptr> chain,
                   crypto::LoadCertificateChainFile(command_line.ca_chain));
  RETURN_IF_ERROR(ReadUserPins(command_line, options));
  ASSIGN_OR_RETURN(crypto::X509Ptr ra,
                   pkcs11::ImportCaCertificate(options, ca.get(), chain, command_line.out_dir,
                                               absl::StrCat("'", command_line.import_ca, "'")));
  const std::filesystem::path dir(command_line.out_dir);
  PrintRaCertificate(ra.get(), ca.get(), (dir / "ra.pem").string(),
                     (dir / "ca.pem").string(), out);
  out << "CA chain:       " << (dir / "ca-chain.pem").string() << " (" << chain.size()
      << " certificates up to the root; GetCACert publishes them)\n"
      << "Root SHA-256:   " << pkcs11::Sha256Fingerprint(chain.back().get()).value_or("?")
      << "\n";
  return absl::OkStatus();
}

}  // namespace

absl::Status RunProvision(CommandLine command_line, std::ostream& out) {
  if (!command_line.ca_csr.empty()) return RunCaCsr(std::move(command_line), out);
  if (!command_line.import_ca.empty()) return RunImportCa(std::move(command_line), out);
  if (command_line.renew_ra) return RunRenewRa(std::move(command_line), out);
  if (command_line.rollover_ra) return RunRolloverRa(std::move(command_line), out);
  if (command_line.drop_previous_ra) return RunDropPreviousRa(std::move(command_line), out);
  pkcs11::ProvisionOptions& options = command_line.options;
  const std::filesystem::path dir(command_line.out_dir);
  const std::string ca_path = (dir / "ca.pem").string();
  const std::string ra_path = (dir / "ra.pem").string();

  if (command_line.if_missing) {
    ASSIGN_OR_RETURN(bool exists, pkcs11::TokenExists(options.module_path,
                                                      options.token_label));
    if (exists && std::filesystem::exists(ca_path) &&
        std::filesystem::exists(ra_path) &&
        (options.ra_key_file.empty() || std::filesystem::exists(options.ra_key_file))) {
      bool ra_token = true;
      if (!options.ra_token_label.empty()) {
        ASSIGN_OR_RETURN(ra_token, pkcs11::TokenExists(
                                       pkcs11::RaTokenInOtherModule(options)
                                           ? options.ra_module_path
                                           : options.module_path,
                                       options.ra_token_label));
      }
      if (ra_token) {
        out << "token '" << options.token_label << "', " << ca_path << " and "
            << ra_path << " already exist; nothing to do\n";
        return absl::OkStatus();
      }
    }
    options.reuse_existing_token = exists;
  }

  RETURN_IF_ERROR(ReadUserPins(command_line, options));
  RETURN_IF_ERROR(ReadSoPin(command_line, options));

  // A reused token whose ca.pem is still there keeps that CA certificate
  // (MDM profiles pin its fingerprint): only what is missing is issued.
  crypto::X509Ptr existing_ca;
  if (options.reuse_existing_token && std::filesystem::exists(ca_path)) {
    ASSIGN_OR_RETURN(existing_ca, pkcs11::ReadCertificatePem(ca_path));
    // Before the token changes (a missing CA key would be generated).
    RETURN_IF_ERROR(pkcs11::CheckExistingCaCertificate(
        options, existing_ca.get(), absl::StrCat("'", ca_path, "'"),
        absl::StrCat(". Only if that CA is gone for good: move '", ca_path,
                     "' away and run again to issue a NEW self-signed CA; its SHA-256 "
                     "fingerprint changes, and every MDM profile and relying party that "
                     "pins or trusts the old CA must be given the new one")));
  }
  absl::StatusOr<pkcs11::ProvisionResult> provisioned =
      pkcs11::Provision(options, existing_ca.get());
  if (absl::IsAlreadyExists(provisioned.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat(provisioned.status().message(),
                     " (--if-missing reuses it and its keys)"));
  }
  if (!provisioned.ok()) return provisioned.status();
  const pkcs11::ProvisionResult& result = *provisioned;
  RETURN_IF_ERROR(pkcs11::WriteServiceCertificates(result.certificates,
                                                   command_line.out_dir));
  ASSIGN_OR_RETURN(std::string fingerprint,
                   pkcs11::Sha256Fingerprint(result.certificates.ca.get()));
  PrintSummary(options, result, fingerprint, ca_path, ra_path, out);
  if (existing_ca != nullptr) out << "CA certificate kept (already in use)\n";
  return absl::OkStatus();
}

}  // namespace scep::provision
