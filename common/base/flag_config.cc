#include "common/base/flag_config.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <vector>
#include <sstream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

ABSL_FLAG(std::string, config, "",
          "settings file: one `flag_name = value` per line; environment "
          "variables override it and command-line flags override both");

namespace scep::base {
namespace {

// The flag `name` when it is one of this binary's settings, else null.
absl::CommandLineFlag* FindSetting(absl::string_view name,
                                   const FlagConfigOptions& options) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || flag->IsRetired()) return nullptr;
  if (!absl::EndsWith(flag->Filename(), options.defining_file_suffix)) {
    return nullptr;
  }
  return flag;
}

std::optional<std::string> LookupEnv(const FlagConfigOptions& options,
                                     const std::string& name) {
  if (options.getenv) return options.getenv(name);
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string EnvName(const FlagConfigOptions& options, absl::string_view flag) {
  return absl::StrCat(options.env_prefix, absl::AsciiStrToUpper(flag));
}

// Parses `value` into `flag`; `where` says where it came from.
absl::Status Apply(absl::CommandLineFlag& flag, absl::string_view value,
                   absl::string_view where) {
  if (IsSecretFlagName(flag.Name())) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": --", flag.Name(),
        " carries a secret and is never a setting; give it in a file"));
  }
  std::string error;
  if (!flag.ParseFrom(value, &error)) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": bad value for --", flag.Name(), ": ", error));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view FlagSourceName(FlagSource source) {
  switch (source) {
    case FlagSource::kDefault: return "default";
    case FlagSource::kFile: return "file";
    case FlagSource::kEnv: return "env";
    case FlagSource::kCommandLine: return "flag";
  }
  return "default";
}

FlagSource FlagSources::Get(absl::string_view flag) const {
  auto it = sources_.find(flag);
  return it == sources_.end() ? FlagSource::kDefault : it->second;
}

void FlagSources::Set(absl::string_view flag, FlagSource source) {
  sources_[std::string(flag)] = source;
}

bool IsSecretFlagName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  const std::vector<absl::string_view> words = absl::StrSplit(lower, '_');
  // The last word names what the value is: where a secret lives, which
  // object, how long to wait for it (token_wait_seconds) — not the secret.
  static constexpr absl::string_view kAboutASecret[] = {
      "file", "path", "dir", "label", "seconds", "ms", "minutes", "hours", "days"};
  for (absl::string_view about : kAboutASecret) {
    if (words.back() == about) return false;
  }
  for (absl::string_view secret : {"password", "passphrase", "secret", "challenge", "token"}) {
    if (absl::StrContains(lower, secret)) return true;
  }
  // A whole word only: no PIN in "ping", "mapping" or "spinning".
  for (absl::string_view word : words) {
    if (word == "pin") return true;
  }
  return false;
}

absl::Status ApplyFlagSettings(absl::string_view file_name,
                               absl::string_view text,
                               const FlagConfigOptions& options,
                               FlagSources& sources) {
  std::set<std::string> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = absl::StrCat(file_name, ":", line_number);
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, ": expected `name = value`"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, eq));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    absl::CommandLineFlag* flag = FindSetting(name, options);
    if (flag == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": unknown setting '", name, "' (see ", options.program,
          " --help)"));
    }
    if (!seen.insert(std::string(name)).second) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, ": setting '", name, "' given twice"));
    }
    if (absl::Status s = Apply(*flag, value, where); !s.ok()) return s;
    sources.Set(name, FlagSource::kFile);
  }
  return absl::OkStatus();
}

absl::Status ApplyFlagEnvironment(const FlagConfigOptions& options,
                                  FlagSources& sources) {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (FindSetting(name, options) != flag) continue;
    const std::string env = EnvName(options, name);
    std::optional<std::string> value = LookupEnv(options, env);
    if (!value.has_value()) continue;
    if (absl::Status s = Apply(*flag, *value, "environment " + env); !s.ok()) {
      return s;
    }
    sources.Set(name, FlagSource::kEnv);
  }
  return absl::OkStatus();
}

std::string ConfigPathFromArgs(const std::vector<std::string>& args,
                               const FlagConfigOptions& options) {
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) {
      if (!absl::ConsumePrefix(&arg, "-")) continue;
    }
    if (absl::ConsumePrefix(&arg, "config=")) return std::string(arg);
    if (arg == "config" && i + 1 < args.size()) return args[i + 1];
  }
  return LookupEnv(options, options.env_prefix + "CONFIG").value_or("");
}

std::vector<std::string> FlagsNamedInArgs(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  for (absl::string_view arg : args) {
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      continue;
    }
    absl::string_view name = arg.substr(0, arg.find('='));
    // --noflag sets the bool flag `flag` to false.
    if (absl::FindCommandLineFlag(name) == nullptr && name.size() == arg.size() &&
        absl::StartsWith(name, "no")) {
      name.remove_prefix(2);
    }
    names.emplace_back(name);
  }
  return names;
}

absl::StatusOr<FlagSources> LoadFlagConfig(int argc, char** argv,
                                           const FlagConfigOptions& options) {
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  FlagSources sources;
  const std::string path = ConfigPathFromArgs(args, options);
  sources.set_config_file(path);
  if (!path.empty()) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read settings file ", path));
    }
    if (absl::Status s = ApplyFlagSettings(path, text.str(), options, sources);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ApplyFlagEnvironment(options, sources); !s.ok()) return s;
  for (const std::string& name : FlagsNamedInArgs(args)) {
    if (FindSetting(name, options) != nullptr) {
      sources.Set(name, FlagSource::kCommandLine);
    }
  }
  return sources;
}

FlagSources ParseFlagsWithConfig(int argc, char** argv,
                                 const FlagConfigOptions& options) {
  absl::StatusOr<FlagSources> sources = LoadFlagConfig(argc, argv, options);
  if (!sources.ok()) {
    std::cerr << options.program << ": " << sources.status().message() << "\n";
    std::exit(1);
  }
  absl::ParseCommandLine(argc, argv);
  return *std::move(sources);
}

}  // namespace scep::base
