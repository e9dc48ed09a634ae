// scep-provision: creates the SCEP service's token, keys and certificates.
// See UsageText() (--help) for flags; PINs come from the environment or
// files only.

#include <iostream>
#include <string>
#include <vector>

#include "common/base/process.h"
#include "services/provision/provision_command.h"
#include "services/provision/provision_flags.h"

int main(int argc, char** argv) {
  // Debian's abseil tracks lock order on every absl::Mutex (gRPC, libp11
  // callers) and aborts on a suspected cycle: off, as in the services.
  scep::base::DisableMutexDeadlockDetection();
  // Before any secret is read: a core would carry them (common/base/process.h).
  if (absl::Status no_core = scep::base::DisableCoreDumps(); !no_core.ok()) {
    std::cerr << "scep-provision: cannot disable core dumps: " << no_core.message() << "\n";
    return 1;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<scep::provision::CommandLine> command_line =
      scep::provision::ParseCommandLine(args);
  if (!command_line.ok()) {
    std::cerr << "scep-provision: " << command_line.status().message()
              << "\n(see --help)\n";
    return 2;
  }
  if (command_line->help) {
    std::cout << scep::provision::UsageText();
    return 0;
  }
  absl::Status status =
      scep::provision::RunProvision(*std::move(command_line), std::cout);
  if (!status.ok()) {
    std::cerr << "scep-provision: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
