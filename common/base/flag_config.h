#ifndef SCEP_COMMON_BASE_FLAG_CONFIG_H_
#define SCEP_COMMON_BASE_FLAG_CONFIG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::base {

// Where a flag's effective value came from, lowest precedence first.
enum class FlagSource { kDefault, kFile, kEnv, kCommandLine };

// "default", "file", "env" or "flag".
absl::string_view FlagSourceName(FlagSource source);

// Which flags a binary takes from its settings file and environment.
struct FlagConfigOptions {
  // Program name for error messages, e.g. "scep-gateway".
  std::string program;
  // Environment prefix: flag --http_port is read from <prefix>HTTP_PORT
  // (e.g. SCEP_GATEWAY_HTTP_PORT); <prefix>CONFIG names the settings file
  // when --config is not given.
  std::string env_prefix;
  // Only flags defined in a source file whose path ends with this (e.g.
  // "gateway/main.cc") are settings; absl's own flags (--help, --flagfile)
  // and other binaries' flags are not.
  std::string defining_file_suffix;
  // Environment lookup; null means ::getenv. Tests inject a map.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// The source of each setting after LoadFlagConfig. Unlisted flags have
// their default.
class FlagSources {
 public:
  FlagSource Get(absl::string_view flag) const;
  void Set(absl::string_view flag, FlagSource source);

  // The settings file read, "" when none.
  const std::string& config_file() const { return config_file_; }
  void set_config_file(std::string path) { config_file_ = std::move(path); }

 private:
  std::map<std::string, FlagSource, std::less<>> sources_;
  std::string config_file_;
};

// True when a flag called `name` would carry a secret value (password,
// passphrase, secret, challenge or token in its name, or pin as a word of
// it), except flags whose last word says what else the value is: *_file,
// *_path, *_dir, *_label (where the secret is, which object) and durations
// (*_seconds, *_ms, *_minutes, *_hours, *_days: token_wait_seconds). Such
// flags are never settable from a settings file or the environment, and
// their values are redacted in logs.
bool IsSecretFlagName(absl::string_view name);

// Applies a settings file's text to the flags: one `name = value` per
// line, `#` starts a comment line, blank lines are ignored, a value may be
// wrapped in double quotes to keep surrounding spaces. Names are flag names
// without dashes. FailedPrecondition naming `file_name`, the line and the
// setting for an unknown setting, a malformed line, a repeated setting, a
// secret given literally, or a value the flag rejects. Records kFile in
// `sources`.
absl::Status ApplyFlagSettings(absl::string_view file_name,
                               absl::string_view text,
                               const FlagConfigOptions& options,
                               FlagSources& sources);

// Applies <prefix><NAME> environment variables to their flags (only
// variables naming a setting are looked at; others with the prefix are
// ignored). FailedPrecondition naming the variable and the flag for a bad
// value or a secret flag. Records kEnv in `sources`.
absl::Status ApplyFlagEnvironment(const FlagConfigOptions& options,
                                  FlagSources& sources);

// The settings file named on the command line (--config=F, --config F,
// -config ...), else by <prefix>CONFIG, else "" (no file).
std::string ConfigPathFromArgs(const std::vector<std::string>& args,
                               const FlagConfigOptions& options);

// The settings named explicitly in `args` (argv without argv[0], up to
// "--"), e.g. "http_port" for --http_port=1 and "allow_legacy" for
// --noallow_legacy.
std::vector<std::string> FlagsNamedInArgs(const std::vector<std::string>& args);

// Settings file, then environment: call before absl::ParseCommandLine so
// that explicit command-line flags win over both. Marks the flags named on
// the command line kCommandLine. FailedPrecondition when the file cannot be
// read or a setting is refused.
absl::StatusOr<FlagSources> LoadFlagConfig(int argc, char** argv,
                                           const FlagConfigOptions& options);

// LoadFlagConfig then absl::ParseCommandLine for a binary's main(): on a
// refused setting prints "<program>: <error>" to stderr and exits 1.
// Returns where each setting came from, for the start-up log.
FlagSources ParseFlagsWithConfig(int argc, char** argv,
                                 const FlagConfigOptions& options);

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_FLAG_CONFIG_H_
