#ifndef SCEP_SERVICES_SCEPCTL_NOTICES_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_NOTICES_COMMANDS_H_

#include "services/scepctl/command_context.h"

// Verbs on issuance notices the gateways gave up on. Each returns the exit
// status documented on RunCommand; usage.cc has their flags.
namespace scep::scepctl::internal {

// notices list: one table row per given-up notice, newest first.
int NoticesList(CommandContext& context);

// notices requeue: queue them again, every one of --profile or by --id.
int NoticesRequeue(CommandContext& context);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_NOTICES_COMMANDS_H_
