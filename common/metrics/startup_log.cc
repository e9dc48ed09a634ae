#include "common/metrics/startup_log.h"

#include <map>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace scep::metrics {

bool IsSecretFlagName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (absl::EndsWith(lower, "_file") || absl::EndsWith(lower, "_label") ||
      absl::EndsWith(lower, "_path")) {
    return false;
  }
  for (absl::string_view word :
       {"password", "passphrase", "secret", "pin", "challenge"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

void AddEffectiveFlags(absl::string_view defining_file_suffix,
                       LogRecord& record) {
  std::map<std::string, std::string> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::EndsWith(flag->Filename(), defining_file_suffix)) continue;
    flags[std::string(name)] =
        IsSecretFlagName(name) ? "<redacted>" : flag->CurrentValue();
  }
  for (const auto& [name, value] : flags) record.Str(name, value);
}

}  // namespace scep::metrics
