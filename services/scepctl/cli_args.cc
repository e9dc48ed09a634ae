#include "services/scepctl/cli_args.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace scep::scepctl {
namespace {

const std::set<std::string, std::less<>>& Switches() {
  static const auto* switches =
      new std::set<std::string, std::less<>>{"help", "json", "all", "pem", "h",
                                             "insecure"};
  return *switches;
}

// Flags renamed since, under the spelling scripts may still use. Multi-
// word flags are hyphenated (--page-size); enroll's idempotency key was
// --request_id, the one exception.
const std::map<std::string, std::string, std::less<>>& Renamed() {
  static const auto* renamed =
      new std::map<std::string, std::string, std::less<>>{{"request_id", "request-id"}};
  return *renamed;
}

std::string CurrentName(std::string name) {
  auto it = Renamed().find(name);
  return it != Renamed().end() ? it->second : name;
}

}  // namespace

bool CliArgs::Has(absl::string_view name) const {
  return flags.find(std::string(name)) != flags.end();
}

std::optional<std::string> CliArgs::Get(absl::string_view name) const {
  auto range = flags.equal_range(std::string(name));
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;
}

std::string CliArgs::GetOr(absl::string_view name, absl::string_view fallback) const {
  return Get(name).value_or(std::string(fallback));
}

std::vector<std::string> CliArgs::GetAll(absl::string_view name) const {
  std::vector<std::string> out;
  auto range = flags.equal_range(std::string(name));
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

absl::StatusOr<CliArgs> ParseCliArgs(const std::vector<std::string>& argv) {
  CliArgs args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--") {
      args.words.insert(args.words.end(), argv.begin() + i + 1, argv.end());
      break;
    }
    if (!absl::StartsWith(arg, "-") || arg == "-") {
      args.words.push_back(arg);
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      args.flags.emplace(CurrentName(name.substr(0, eq)), name.substr(eq + 1));
      continue;
    }
    name = CurrentName(std::move(name));
    if (Switches().count(name) > 0) {
      args.flags.emplace(name == "h" ? "help" : name, "true");
    } else if (i + 1 < argv.size()) {
      args.flags.emplace(name, argv[++i]);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
  }
  return args;
}

absl::StatusOr<int64_t> ParseDurationSeconds(absl::string_view text) {
  int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0; break;
    }
    if (unit != 0) text.remove_suffix(1); else unit = 1;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value <= 0) {
    return absl::InvalidArgumentError("durations look like 90s, 15m, 1h or 7d");
  }
  return value * unit;
}

}  // namespace scep::scepctl
