#include "common/base/secret.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace scep::base {

absl::StatusOr<std::string> ReadSecret(const std::string& what,
                                       const std::string& path,
                                       const char* env) {
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read the ", what, " file ", path));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string secret(absl::StripTrailingAsciiWhitespace(ss.str()));
    if (secret.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("the ", what, " file ", path, " is empty"));
    }
    return secret;
  }
  const char* value = std::getenv(env);
  if (value == nullptr || *value == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("no ", what, ": give its file or set ", env));
  }
  std::string secret(value);
  unsetenv(env);
  return secret;
}

}  // namespace scep::base
