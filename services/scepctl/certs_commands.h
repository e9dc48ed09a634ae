#ifndef SCEP_SERVICES_SCEPCTL_CERTS_COMMANDS_H_
#define SCEP_SERVICES_SCEPCTL_CERTS_COMMANDS_H_

#include "services/scepctl/command_context.h"

// Verbs on issued certificates and the CRL. Each returns the exit status
// documented on RunCommand; usage.cc has their flags.
namespace scep::scepctl::internal {

// certs list: one table row per certificate; --all follows
// next_page_token to the end.
int CertsList(CommandContext& context);

// certs show: the details of one certificate by serial, or with --pem or
// --out FILE the certificate itself, PEM-armoured.
int CertsShow(CommandContext& context);

// certs revoke: revokes one certificate by serial with an RFC 5280
// CRLReason (default unspecified).
int CertsRevoke(CommandContext& context);

// crl: the current CRL of a profile's issuing CA (DER, or PEM with --pem).
int Crl(CommandContext& context);

// enroll: issues a certificate for a CSR file (PEM or DER) outside SCEP;
// writes the certificate as PEM.
int Enroll(CommandContext& context);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_CERTS_COMMANDS_H_
