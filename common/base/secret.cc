#include "common/base/secret.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace scep::base {

std::optional<std::string> TakeSecretFromEnv(const char* name) {
  char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  std::string secret(value);
  // explicit_bzero: a store the compiler may not drop, although nothing
  // reads the bytes again in this process.
  explicit_bzero(value, std::strlen(value));
  unsetenv(name);
  return secret;
}

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
  std::optional<std::string> secret = TakeSecretFromEnv(env);
  if (!secret.has_value() || secret->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no ", what, ": give its file or set ", env));
  }
  return *std::move(secret);
}

absl::StatusOr<std::string> ReadPinFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read the ", what, " file ", path));
  }
  std::string pin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Every trailing line ending goes (both binaries always dropped them:
  // a Secret written as `echo "$PIN"` of a value ending in a newline keeps
  // working); trailing blanks and tabs are part of the PIN.
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
  if (pin.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the ", what, " file ", path, " is empty"));
  }
  return pin;
}

absl::StatusOr<std::string> ReadPin(const std::string& what, const std::string& path,
                                    const char* env) {
  if (path.empty()) return ReadSecret(what, path, env);
  absl::StatusOr<std::string> pin = ReadPinFile(what, path);
  if (!pin.ok()) return absl::FailedPreconditionError(pin.status().message());
  return pin;
}

}  // namespace scep::base
