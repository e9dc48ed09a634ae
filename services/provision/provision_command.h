#ifndef SCEP_SERVICES_PROVISION_PROVISION_COMMAND_H_
#define SCEP_SERVICES_PROVISION_PROVISION_COMMAND_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/provision/provision_flags.h"

namespace scep::provision {

// A secret from `file` when given (base::ReadPinFile: trailing "\n" and
// "\r" stripped, as the signer reads it), otherwise
// from the environment variable `env_var`, which is then taken out of the
// environment (base::TakeSecretFromEnv). NotFound when neither is set;
// InvalidArgument when empty. Messages name the source, never the secret.
absl::StatusOr<std::string> ReadSecret(const std::string& file,
                                       const char* env_var,
                                       absl::string_view what);

// Runs scep-provision: provisions the token (see pkcs11::Provision), writes
// the PEM files and prints a summary (token, key types, CA subject, CA
// SHA-256 fingerprint, paths) to `out`. With --if-missing, returns OK
// without changes when the token and both files already exist. Never
// prints a PIN.
absl::Status RunProvision(CommandLine command_line, std::ostream& out);

}  // namespace scep::provision

#endif  // SCEP_SERVICES_PROVISION_PROVISION_COMMAND_H_
