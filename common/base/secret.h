#ifndef SCEP_COMMON_BASE_SECRET_H_
#define SCEP_COMMON_BASE_SECRET_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace scep::base {

// The value of the environment variable `name`, taken out of the process:
// its bytes are overwritten in place (the environment block the kernel
// shows in /proc/PID/environ still holds them after unsetenv, which only
// drops the pointer) and the variable is removed, so no child inherits it.
// nullopt when it is not set. Not thread-safe (getenv/unsetenv): call at
// start-up, before other threads read the environment.
std::optional<std::string> TakeSecretFromEnv(const char* name);

// Reads a secret (challenge, password; PINs: ReadPin) the way every binary
// here does: from `path` when non-empty (trailing whitespace removed), otherwise from
// the environment variable `env`, taken out of the environment as by
// TakeSecretFromEnv. Never from the command line.
// FailedPrecondition naming `what`, the path or the variable (never the
// value) when neither yields a non-empty secret.
absl::StatusOr<std::string> ReadSecret(const std::string& what,
                                       const std::string& path,
                                       const char* env);

// The content of the PIN file at `path` less its trailing line endings
// ("\n", "\r": what editors and `echo` add). Every other byte belongs to
// the PIN, trailing blanks included: the token compares PINs byte for
// byte, so every binary (scep-provision, scep-signer) reads PIN files
// through here and reads the same PIN. NotFound naming `what` and the path
// when the file cannot be read, InvalidArgument when the PIN is empty;
// never the value.
absl::StatusOr<std::string> ReadPinFile(const std::string& what, const std::string& path);

// ReadSecret for a PIN: from `path` when non-empty (ReadPinFile), otherwise
// from the environment variable `env`, taken out of the environment.
// FailedPrecondition as ReadSecret.
absl::StatusOr<std::string> ReadPin(const std::string& what, const std::string& path,
                                    const char* env);

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_SECRET_H_
