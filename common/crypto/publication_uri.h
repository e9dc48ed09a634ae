#ifndef SCEP_COMMON_CRYPTO_PUBLICATION_URI_H_
#define SCEP_COMMON_CRYPTO_PUBLICATION_URI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace scep::crypto {

// Whether `uris` may go into certificates as where to find the CRL
// (`ldap_allowed`) or the issuer's certificate: at most 4, each an absolute
// http://, https:// (or ldap://) URI with a host, 1..1024 printable ASCII
// characters without spaces, quotes or backslashes. InvalidArgument naming
// `what` (unless empty) and the offending URI (cut to 100 characters)
// otherwise.
absl::Status CheckPublicationUris(const std::vector<std::string>& uris,
                                  absl::string_view what, bool ldap_allowed);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_PUBLICATION_URI_H_
