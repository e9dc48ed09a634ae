#ifndef SCEP_COMMON_METRICS_STARTUP_LOG_H_
#define SCEP_COMMON_METRICS_STARTUP_LOG_H_

#include "absl/strings/string_view.h"
#include "common/base/flag_config.h"
#include "common/metrics/json_log.h"

namespace scep::metrics {

// Adds the effective value of every command-line flag defined in a source
// file whose path ends with `defining_file_suffix` (e.g. "gateway/main.cc")
// to `record`, sorted by name, as "flag_name": "value". Values of flags
// whose name suggests a secret (base::IsSecretFlagName) are replaced by
// "<redacted>"; *_file, *_path and *_label flags name where a secret is,
// not the secret itself. Secrets should never be flags at all; this is the
// second line of defence.
// With `sources` (from base::ParseFlagsWithConfig) also adds "config_file"
// (the settings file, "" for none) and "config_sources": the settings that
// do not have their default, as "name=file|env|flag" joined by commas.
void AddEffectiveFlags(absl::string_view defining_file_suffix, LogRecord& record,
                       const base::FlagSources* sources = nullptr);

// True when a flag called `name` would be redacted by AddEffectiveFlags.
bool IsSecretFlagName(absl::string_view name);

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_STARTUP_LOG_H_
