#ifndef SCEP_SERVICES_SCEPCTL_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>

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

// For --help, or a command line naming no known command: prints the
// usage and returns the exit status (0 for --help, 2 otherwise); nullopt
// when there is a command to run.
std::optional<int> HandleUsage(const CliArgs& args, std::ostream& out, std::ostream& err);

// Runs the command in `args` over `stub`, writing results to `out`
// (JSON with --json) and errors to `err`. Exit status: 0 done, 1 the
// server refused or failed, 2 bad usage.
int RunCommand(const CliArgs& args, admin::v1::Admin::StubInterface& stub,
               const CallOptions& call, std::ostream& out, std::ostream& err);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_COMMANDS_H_
