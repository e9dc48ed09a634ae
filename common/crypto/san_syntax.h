#ifndef SCEP_COMMON_CRYPTO_SAN_SYNTAX_H_
#define SCEP_COMMON_CRYPTO_SAN_SYNTAX_H_

#include <openssl/x509v3.h>

#include "absl/status/status.h"

namespace scep::crypto {

// Whether a subjectAltName entry is well-formed for its type (RFC 5280
// section 4.2.1.6), checked before any pattern or domain is matched
// against it: a match over bytes reads "www.bank.com\0.devices.example.com"
// as under devices.example.com, while a relying party that stops at the NUL
// reads www.bank.com.
//
// - dNSName: the preferred name syntax (RFC 1034 section 3.5, RFC 1123
//   section 2.1): dot-separated labels of ASCII letters, digits and
//   hyphens, 1..63 octets each, neither starting nor ending with a hyphen,
//   253 octets at most, no trailing dot; internationalized names as
//   A-labels ("xn--..."). Underscores are allowed too: Windows computer
//   names (NetBIOS) hold them and private device PKI issues them (public
//   TLS CAs may not). No wildcard label ("*.example.com"): a device is
//   given the names it is, not every name in a domain.
// - rfc822Name: printable ASCII (0x21..0x7E), exactly one "@" after a
//   non-empty local part, and a dNSName as above for the domain.
// - uniformResourceIdentifier: printable ASCII with a scheme (RFC 3986
//   section 3.1: a letter, then letters, digits, "+", "-" or ".", then
//   ":") and something after it.
// - Microsoft UPN (otherName 1.3.6.1.4.1.311.20.2.3, a UTF8String): valid
//   UTF-8 without control characters (NUL, C0, DEL, C1), exactly one "@"
//   with text on both sides. Characters beyond ASCII are allowed, as
//   Active Directory allows them in names.
// - iPAddress: 4 or 16 octets.
//
// Other types (directoryName, registeredID, other otherNames) are left to
// the type lists of profiles and issuance policies. InvalidArgument naming
// the entry ("subjectAltName dns:...", bytes outside printable ASCII
// escaped, cut to 100 characters) and the rule otherwise.
absl::Status CheckSubjectAltNameSyntax(const GENERAL_NAME* name);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_SAN_SYNTAX_H_
