#ifndef SCEP_SERVICES_SCEPCTL_RESTORE_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_RESTORE_COMMANDS_H_

#include "services/scepctl/command_context.h"

// Disaster recovery verbs, for when Redis lost data (no AOF persistence, a
// restore from an older backup). Each returns the exit status documented
// on RunCommand; usage.cc has their flags.
namespace scep::scepctl::internal {

// crl restore: records again the revocations of a CRL file (DER or PEM)
// that Redis lost.
int CrlRestore(CommandContext& context);

// certs restore: records again the certificates of the signer's audit
// trails (certificate_issued lines written with --audit_certificates; one
// --audit FILE per trail, "-" for standard input) that the certificate
// index lost, in calls of up to 500. Prints what became of them; a
// certificate the server refused is named by its line in its file and
// makes the exit status 1 (the others are restored all the same).
int CertsRestore(CommandContext& context);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_RESTORE_COMMANDS_H_
