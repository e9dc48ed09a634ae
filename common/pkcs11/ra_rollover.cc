#include "common/pkcs11/ra_rollover.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/pkcs11/cert_builder.h"
#include "common/pkcs11/ckr.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioned_keys.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {

std::string PreviousPath(absl::string_view path) {
  if (absl::EndsWith(path, ".pem")) {
    return absl::StrCat(path.substr(0, path.size() - 4), "-previous.pem");
  }
  return absl::StrCat(path, "-previous");
}

std::string PreviousRaKeyLabel(absl::string_view ra_key_label) {
  return absl::StrCat(ra_key_label, ".previous");
}

namespace {

// A logged-in read-write session on the token that holds the RA key pair.
// Members in this order: the session closes before the module finalises.
struct RaTokenSession {
  std::unique_ptr<Module> module;
  std::optional<Session> session;
};

absl::StatusOr<RaTokenSession> OpenRaTokenSession(const ProvisionOptions& options) {
  const bool other_token = !options.ra_token_label.empty();
  const std::string& module_path = other_token && RaTokenInOtherModule(options)
                                       ? options.ra_module_path
                                       : options.module_path;
  const std::string& label = other_token ? options.ra_token_label : options.token_label;
  const std::string& pin =
      other_token && !options.ra_user_pin.empty() ? options.ra_user_pin : options.user_pin;
  RaTokenSession opened;
  ASSIGN_OR_RETURN(opened.module, Module::Load(module_path));
  RETURN_IF_ERROR(opened.module->Initialize());
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot, opened.module->FindToken(label));
  if (!slot.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no initialised token labelled '", label, "'"));
  }
  ASSIGN_OR_RETURN(Session session, Session::Open(*opened.module, *slot, /*read_write=*/true));
  RETURN_IF_ERROR(session.Login(CKU_USER, pin, label));
  opened.session.emplace(std::move(session));
  return opened;
}

absl::StatusOr<bool> HasPrivateKey(const Session& session, absl::string_view label) {
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> key,
                   session.FindObject(CKO_PRIVATE_KEY, label));
  return key.has_value();
}

// Gives the `object_class` object labelled `from` the label `to` (and the
// CKA_ID that goes with it); nothing when there is none, so it can be
// repeated after an interruption.
absl::Status Relabel(const Session& session, CK_OBJECT_CLASS object_class,
                     absl::string_view from, const std::string& to) {
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> object,
                   session.FindObject(object_class, from));
  if (!object.has_value()) return absl::OkStatus();
  std::string id = KeyIdForLabel(to);
  CK_ATTRIBUTE attributes[] = {
      {CKA_LABEL, const_cast<char*>(to.data()), to.size()},
      {CKA_ID, id.data(), id.size()},
  };
  CK_RV rv = session.functions()->C_SetAttributeValue(session.handle(), *object, attributes, 2);
  if (rv != CKR_OK) {
    return CkrError(absl::StrCat("renaming key '", from, "' to '", to, "'"), rv);
  }
  return absl::OkStatus();
}

// Destroys the `object_class` object labelled `label`; false when none.
absl::StatusOr<bool> Destroy(const Session& session, CK_OBJECT_CLASS object_class,
                             absl::string_view label) {
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> object,
                   session.FindObject(object_class, label));
  if (!object.has_value()) return false;
  CK_RV rv = session.functions()->C_DestroyObject(session.handle(), *object);
  if (rv != CKR_OK) return CkrError(absl::StrCat("destroying key '", label, "'"), rv);
  return true;
}

bool FileExists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(path, error);
}

// Whether the current RA key exists where `options` places it.
absl::StatusOr<bool> CurrentRaKeyExists(const ProvisionOptions& options) {
  if (!options.ra_key_file.empty()) return FileExists(options.ra_key_file);
  ASSIGN_OR_RETURN(RaTokenSession token, OpenRaTokenSession(options));
  return HasPrivateKey(*token.session, options.ra_key_label);
}

// Makes the current RA key the previous one: public half first, so an
// interruption never leaves two public keys under the current label.
absl::Status MoveCurrentRaKeyToPrevious(const ProvisionOptions& options) {
  if (!options.ra_key_file.empty()) {
    std::error_code error;
    std::filesystem::rename(options.ra_key_file, PreviousPath(options.ra_key_file), error);
    if (error) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot rename the RA key file '", options.ra_key_file, "': ", error.message()));
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(RaTokenSession token, OpenRaTokenSession(options));
  const std::string previous = PreviousRaKeyLabel(options.ra_key_label);
  RETURN_IF_ERROR(Relabel(*token.session, CKO_PUBLIC_KEY, options.ra_key_label, previous));
  return Relabel(*token.session, CKO_PRIVATE_KEY, options.ra_key_label, previous);
}

// MoveCurrentRaKeyToPrevious interrupted between its two steps leaves the
// public half renamed and the private half not. libp11 0.4.12 crashes on a
// private key whose public half has another CKA_ID, so no Token opens on
// such a token (the checks below need one, and so does the signer): give
// the public half its label back, the state before that rollover, which
// then starts over. Nothing else is changed.
absl::Status UndoHalfMovedRaKey(const ProvisionOptions& options) {
  if (!options.ra_key_file.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(RaTokenSession token, OpenRaTokenSession(options));
  const Session& session = *token.session;
  const std::string& current = options.ra_key_label;
  const std::string previous = PreviousRaKeyLabel(current);
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> private_current,
                   session.FindObject(CKO_PRIVATE_KEY, current));
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> private_previous,
                   session.FindObject(CKO_PRIVATE_KEY, previous));
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> public_current,
                   session.FindObject(CKO_PUBLIC_KEY, current));
  ASSIGN_OR_RETURN(std::optional<CK_OBJECT_HANDLE> public_previous,
                   session.FindObject(CKO_PUBLIC_KEY, previous));
  if (private_current.has_value() && !private_previous.has_value() &&
      !public_current.has_value() && public_previous.has_value()) {
    return Relabel(session, CKO_PUBLIC_KEY, previous, current);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SameCertificateFiles(const std::string& a, const std::string& b) {
  ASSIGN_OR_RETURN(crypto::X509Ptr first, ReadCertificatePem(a));
  ASSIGN_OR_RETURN(crypto::X509Ptr second, ReadCertificatePem(b));
  return X509_cmp(first.get(), second.get()) == 0;
}

}  // namespace

absl::StatusOr<bool> PreviousRaKeyExists(const ProvisionOptions& options) {
  if (!options.ra_key_file.empty()) return FileExists(PreviousPath(options.ra_key_file));
  ASSIGN_OR_RETURN(RaTokenSession token, OpenRaTokenSession(options));
  return HasPrivateKey(*token.session, PreviousRaKeyLabel(options.ra_key_label));
}

namespace {

// What RollOverRaKey checks before its first change, so that a rollover
// that cannot finish leaves the current RA key and certificate as they
// are: `ca` certifies the token's CA key; the RA certificate certifies the
// RA key it is about to move (ra.pem the current key, or ra-previous.pem the
// previous one when resuming); a key file can be written.
absl::Status CheckBeforeRollover(const ProvisionOptions& options, const X509* ca,
                                 const std::string& dir, bool previous_key, bool current_key) {
  const std::filesystem::path base(dir);
  const std::string ra_path = (base / "ra.pem").string();
  const std::string certified_path = previous_key ? PreviousPath(ra_path) : ra_path;
  ASSIGN_OR_RETURN(crypto::X509Ptr certified, ReadCertificatePem(certified_path));
  {
    ASSIGN_OR_RETURN(ProvisionedTokens tokens, OpenProvisionedTokens(options));
    RETURN_IF_ERROR(
        CheckCaCertificate(*tokens.main, options, ca,
                           absl::StrCat("'", (base / "ca.pem").string(), "'"))
            .status());
    RETURN_IF_ERROR(
        CheckRaCertificate(tokens, options, previous_key, certified.get(), certified_path));
  }
  const bool generates = !previous_key || !current_key;
  if (generates && !options.ra_key_file.empty()) {
    // EnsureRaKeyFile creates it exclusively: one left by a crash would stop
    // the rollover after the current key had moved.
    const std::string tmp = options.ra_key_file + ".tmp";
    if (FileExists(tmp)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", tmp, "' exists (left by an interrupted run?); remove it unless another "
          "scep-provision is writing the RA key file"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RaRollover> RollOverRaKey(const ProvisionOptions& options, const X509* ca,
                                         const std::string& dir) {
  const std::string ra_path = (std::filesystem::path(dir) / "ra.pem").string();
  const std::string previous_path = PreviousPath(ra_path);
  ProvisionOptions checked = options;
  checked.reuse_existing_token = true;  // the tokens exist: no SO PIN needed
  // Capped at the CA certificate's real notAfter instead.
  checked.ca_validity_days = std::max(checked.ca_validity_days, checked.ra_validity_days);
  RETURN_IF_ERROR(ValidateProvisionOptions(checked));
  RETURN_IF_ERROR(UndoHalfMovedRaKey(options));
  ASSIGN_OR_RETURN(bool previous_key, PreviousRaKeyExists(options));
  ASSIGN_OR_RETURN(bool current_key, CurrentRaKeyExists(options));
  RaRollover result;
  if (!previous_key) {
    if (!current_key) {
      return absl::NotFoundError("there is no RA key to roll over; provision one first");
    }
  } else {
    if (!FileExists(previous_path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a previous RA key exists but '", previous_path,
          "' does not; remove the previous key (--drop-previous-ra) and roll over again"));
    }
    ASSIGN_OR_RETURN(bool unchanged, SameCertificateFiles(ra_path, previous_path));
    if (current_key && !unchanged) {
      return absl::FailedPreconditionError(
          "the RA key was already rolled over and the previous RA key is still kept; once "
          "devices no longer use it, drop it (--drop-previous-ra) before rolling over again");
    }
    result.resumed = true;
  }
  RETURN_IF_ERROR(CheckBeforeRollover(checked, ca, dir, previous_key, current_key));

  if (!previous_key) {
    // The certificate first: a previous key is never without its certificate.
    ASSIGN_OR_RETURN(crypto::X509Ptr current, ReadCertificatePem(ra_path));
    RETURN_IF_ERROR(WriteCertificatePem(current.get(), previous_path));
    RETURN_IF_ERROR(MoveCurrentRaKeyToPrevious(options));
    current_key = false;
  }
  // The RA key alone: the CA key stays as it is, whatever --ca-key says.
  if (!current_key) RETURN_IF_ERROR(EnsureRaKey(checked).status());
  ASSIGN_OR_RETURN(result.ra, RenewRaCertificate(checked, ca));
  RETURN_IF_ERROR(WriteCertificatePem(result.ra.get(), ra_path));
  return result;
}

absl::StatusOr<DroppedPreviousRa> DropPreviousRa(const ProvisionOptions& options,
                                                 const std::string& dir) {
  const std::string previous_path =
      PreviousPath((std::filesystem::path(dir) / "ra.pem").string());
  DroppedPreviousRa dropped;
  // The certificate first: a signer started in between finds no previous
  // RA at all rather than a certificate without its key.
  std::error_code error;
  dropped.certificate = std::filesystem::remove(previous_path, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remove '", previous_path, "': ", error.message()));
  }
  if (!options.ra_key_file.empty()) {
    dropped.key = std::filesystem::remove(PreviousPath(options.ra_key_file), error);
    if (error) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot remove '", PreviousPath(options.ra_key_file), "': ", error.message()));
    }
  } else {
    ASSIGN_OR_RETURN(RaTokenSession token, OpenRaTokenSession(options));
    const std::string label = PreviousRaKeyLabel(options.ra_key_label);
    ASSIGN_OR_RETURN(dropped.key, Destroy(*token.session, CKO_PRIVATE_KEY, label));
    ASSIGN_OR_RETURN(bool public_key, Destroy(*token.session, CKO_PUBLIC_KEY, label));
    dropped.key = dropped.key || public_key;
  }
  if (!dropped.certificate && !dropped.key) {
    return absl::NotFoundError("there is no previous RA certificate or key to drop");
  }
  return dropped;
}

}  // namespace scep::pkcs11
