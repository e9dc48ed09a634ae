#ifndef SCEP_SERVICES_SCEPCTL_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "scep/admin/v1/admin.grpc.pb.h"
#include "services/scepctl/cli_args.h"

namespace scep::scepctl {

// How every call is made: bearer token ("" = none, e.g. mutual TLS) and
// deadline.
struct CallOptions {
  std::string token;
  int64_t timeout_seconds = 30;
};

// True when `args` names a known verb (and sub-verb).
bool IsKnownCommand(const CliArgs& args);

// For --help, a command line naming no known command, or one giving a
// flag its command does not take (named on `err`, with the flags it
// does take): prints the usage and returns the exit status (0 for
// --help, 2 otherwise); nullopt when there is a command to run.
std::optional<int> HandleUsage(const CliArgs& args, std::ostream& out, std::ostream& err);

// The flags (without "--") `verb` takes besides the global ones; for ""
// the global ones (--server, --json, ...). Empty for an unknown verb.
std::vector<std::string> VerbFlags(const std::string& verb);

// Runs the command in `args` over `stub`, writing results to `out`
// (JSON with --json) and errors to `err`. Exit status: 0 done, 1 the
// server refused or failed, 2 bad usage.
int RunCommand(const CliArgs& args, admin::v1::Admin::StubInterface& stub,
               const CallOptions& call, std::ostream& out, std::ostream& err);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_COMMANDS_H_
