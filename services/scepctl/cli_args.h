#ifndef SCEP_SERVICES_SCEPCTL_CLI_ARGS_H_
#define SCEP_SERVICES_SCEPCTL_CLI_ARGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::scepctl {

// A parsed command line: positional words (verb, sub-verb) and --flags,
// which may come anywhere ("--name value" or "--name=value"; the switches
// listed in kSwitches take no value). Repeated flags keep every value.
// A renamed flag given under its old spelling (--request_id) is stored
// under its current one (--request-id).
struct CliArgs {
  std::vector<std::string> words;
  std::multimap<std::string, std::string> flags;

  bool Has(absl::string_view name) const;
  // The last value of --name, or nullopt.
  std::optional<std::string> Get(absl::string_view name) const;
  std::string GetOr(absl::string_view name, absl::string_view fallback) const;
  std::vector<std::string> GetAll(absl::string_view name) const;
};

// InvalidArgument for a value-taking flag at the end without a value.
absl::StatusOr<CliArgs> ParseCliArgs(const std::vector<std::string>& argv);

// "90s", "15m", "1h", "7d" or plain seconds. InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseDurationSeconds(absl::string_view text);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_CLI_ARGS_H_
