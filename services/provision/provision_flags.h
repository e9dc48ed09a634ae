#ifndef SCEP_SERVICES_PROVISION_PROVISION_FLAGS_H_
#define SCEP_SERVICES_PROVISION_PROVISION_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/pkcs11/provisioner.h"

namespace scep::provision {

// The parsed command line of scep-provision. PINs are not part of it: they
// come from the environment or files, never from argv (visible in ps).
struct CommandLine {
  pkcs11::ProvisionOptions options;  // user_pin and so_pin left empty
  std::string out_dir;
  std::string pin_file;     // empty: use $SCEP_HSM_PIN
  std::string so_pin_file;  // empty: use $SCEP_HSM_SO_PIN
  std::string ra_pin_file;  // --ra-token-label: empty = $SCEP_RA_HSM_PIN or the user PIN
  bool if_missing = false;
  // --renew-ra: only a new RA certificate (pkcs11::RenewRaCertificate).
  bool renew_ra = false;
  // --rollover-ra: a new RA key; the current one is kept as the previous
  // (pkcs11::RollOverRaKey). --drop-previous-ra: remove the previous RA
  // certificate and key (pkcs11::DropPreviousRa).
  bool rollover_ra = false;
  bool drop_previous_ra = false;
  // A CA under another root (pkcs11::CaCertificateRequest, then
  // pkcs11::ImportCaCertificate): --ca-csr writes the CA key's PKCS#10
  // request; --import-ca with --ca-chain takes the issued certificate.
  std::string ca_csr;
  std::string import_ca;
  std::string ca_chain;
  bool ra_subject_given = false;  // else --renew-ra keeps the old subject
  bool help = false;
};

// Parses `args` (without the program name). Flags take "--flag value" or
// "--flag=value". InvalidArgument for unknown flags, missing values, bad key
// types or numbers, missing --token-label or --out-dir (unless --help), and
// for any attempt to pass a PIN on the command line.
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args);

// The --help text.
std::string UsageText();

}  // namespace scep::provision

#endif  // SCEP_SERVICES_PROVISION_PROVISION_FLAGS_H_
