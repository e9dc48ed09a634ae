#ifndef SCEP_SERVICES_SCEPCTL_MOBILECONFIG_H_
#define SCEP_SERVICES_SCEPCTL_MOBILECONFIG_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "scep/admin/v1/admin.pb.h"

namespace scep::scepctl {

struct MobileconfigOptions {
  std::string url;        // the profile's SCEP URL, as devices reach it
  std::string challenge;  // optional; secret (written into the profile only)
  std::string identifier_prefix = "com.example.scep";
  // Values for "{ATTR}" references of the subject template (the request's
  // attribute); unset ones become the placeholder "$ATTR" for the MDM to
  // substitute.
  std::map<std::string, std::string> variables;
};

// An Apple configuration profile (XML property list) with one
// com.apple.security.scep payload for `profile`: URL, Name (the profile,
// sent as the CA identifier), Subject from the profile's subject template,
// Keysize (at least 2048), Key Type RSA, Key Usage (1 signing, 4
// encryption) from the profile's key usage, CAFingerprint (SHA-256 of the
// CA certificate); for a CA under another root, also a
// com.apple.security.root payload with that root. InvalidArgument without a
// URL or CA certificate.
absl::StatusOr<std::string> BuildMobileconfig(const admin::v1::Profile& profile,
                                              const MobileconfigOptions& options);

// The Key Usage bitmask of the SCEP payload for keyUsage names (empty: the
// issuer's default digitalSignature + keyEncipherment).
int AppleKeyUsage(const admin::v1::Profile& profile);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_MOBILECONFIG_H_
