#include "services/signer/previous_ra.h"

#include <openssl/bn.h>
#include <openssl/x509.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/pkcs11/ra_rollover.h"
#include "services/signer/key_access.h"
#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

std::string SerialHex(const X509* cert) {
  crypto::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial == nullptr) return "";
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return "";
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace

absl::StatusOr<std::optional<PreviousRa>> AcceptPreviousRaOf(
    SignerCore& core, const IssuingCaFiles& files, pkcs11::Token* ra_token,
    const std::string& ra_token_label, SignerMetrics* metrics, const std::string& metrics_key) {
  PreviousRa previous;
  previous.certificate = pkcs11::PreviousPath(files.ra_cert);
  std::error_code error;
  if (!std::filesystem::exists(previous.certificate, error)) return std::nullopt;
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, crypto::LoadCertificateFile(previous.certificate));
  ASSIGN_OR_RETURN(crypto::X509Ptr current,
                   crypto::FromDer<crypto::X509Ptr>(core.ra_certificate_der(), d2i_X509,
                                                    "RA certificate"));
  previous.serial_hex = SerialHex(cert.get());
  previous.not_after = absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert.get())));
  std::unique_ptr<KeyAccess> key;  // null: the current RA key
  if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), X509_get0_pubkey(current.get())) == 1) {
    previous.key = "same";
  } else if (!files.ra_key_file.empty()) {
    const std::string path = pkcs11::PreviousPath(files.ra_key_file);
    ASSIGN_OR_RETURN(key, NewKeyFromFile(path));
    previous.key = "file:" + path;
  } else {
    const std::string label = pkcs11::PreviousRaKeyLabel(files.ra_key_label);
    key = NewTimedKeyAccess(NewTokenKey(ra_token, ra_token_label, label), metrics_key, metrics);
    previous.key = absl::StrCat("token:", ra_token_label, ":", label);
  }
  absl::Status accepted = core.AcceptPreviousRa(std::move(cert), std::move(key));
  if (!accepted.ok()) {
    return absl::Status(accepted.code(), absl::StrCat(previous.certificate, " (key ",
                                                      previous.key, "): ", accepted.message()));
  }
  return previous;
}

}  // namespace scep::signer
