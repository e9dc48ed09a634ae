#ifndef SCEP_SERVICES_SCEPCTL_REQUESTS_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_REQUESTS_COMMANDS_H_

#include "services/scepctl/command_context.h"

// Verbs on challenge passwords and the manual-approval queue. Each returns
// the exit status documented on RunCommand; usage.cc has their flags.
namespace scep::scepctl::internal {

// challenge create: prints the new one-time challenge alone, for scripts.
int ChallengeCreate(CommandContext& context);

// requests list: one table row per request (without the CSR in --json);
// --all follows next_page_token to the end.
int RequestsList(CommandContext& context);

// requests approve / requests reject: decide one pending request by
// profile and transaction ID ("hex:..." as printed by requests list).
int RequestsApprove(CommandContext& context);
int RequestsReject(CommandContext& context);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_REQUESTS_COMMANDS_H_
