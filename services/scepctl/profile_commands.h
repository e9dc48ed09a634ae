#ifndef SCEP_SERVICES_SCEPCTL_PROFILE_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_PROFILE_COMMANDS_H_

#include "services/scepctl/command_context.h"

// Verbs on enrollment profiles. Each returns the exit status documented on
// RunCommand; usage.cc has their flags.
namespace scep::scepctl::internal {

// profiles list / profiles show: one table row per profile (all, or the
// one named by --profile).
int ProfilesList(CommandContext& context);
int ProfilesShow(CommandContext& context);

// mobileconfig: an Apple configuration profile enrolling against a
// profile (see BuildMobileconfig).
int Mobileconfig(CommandContext& context);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_PROFILE_COMMANDS_H_
