#include "common/metrics/startup_log.h"

#include <map>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace scep::metrics {

bool IsSecretFlagName(absl::string_view name) {
  return base::IsSecretFlagName(name);
}

void AddEffectiveFlags(absl::string_view defining_file_suffix, LogRecord& record,
                       const base::FlagSources* sources) {
  std::map<std::string, std::string> flags;
  std::vector<std::string> non_default;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::EndsWith(flag->Filename(), defining_file_suffix)) continue;
    flags[std::string(name)] =
        IsSecretFlagName(name) ? "<redacted>" : flag->CurrentValue();
  }
  for (const auto& [name, value] : flags) {
    record.Str(name, value);
    if (sources == nullptr) continue;
    const base::FlagSource source = sources->Get(name);
    if (source != base::FlagSource::kDefault) {
      non_default.push_back(
          absl::StrCat(name, "=", base::FlagSourceName(source)));
    }
  }
  if (sources != nullptr) {
    record.Str("config_file", sources->config_file());
    record.Str("config_sources", absl::StrJoin(non_default, ","));
  }
}

}  // namespace scep::metrics
