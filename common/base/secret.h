#ifndef SCEP_COMMON_BASE_SECRET_H_
#define SCEP_COMMON_BASE_SECRET_H_

#include <string>

#include "absl/status/statusor.h"

namespace scep::base {

// Reads a secret (PIN, challenge, token) the way every binary here does:
// from `path` when non-empty (trailing whitespace removed), otherwise from
// the environment variable `env`, which is then removed from the
// environment so no child process inherits it. Never from the command line.
// FailedPrecondition naming `what`, the path or the variable (never the
// value) when neither yields a non-empty secret.
absl::StatusOr<std::string> ReadSecret(const std::string& what,
                                       const std::string& path,
                                       const char* env);

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_SECRET_H_
