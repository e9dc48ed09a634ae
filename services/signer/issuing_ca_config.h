#ifndef SCEP_SERVICES_SIGNER_ISSUING_CA_CONFIG_H_
#define SCEP_SERVICES_SIGNER_ISSUING_CA_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::signer {

// Where one issuing CA's keys and certificates are.
struct IssuingCaFiles {
  std::string name;  // "" = the default CA
  std::string ca_key_label;
  std::string ca_cert;  // PEM file
  std::string ra_key_label;
  std::string ra_cert;  // PEM file
  // Non-empty: the RA private key is this PEM file, not a key in the token
  // (DESIGN.md, "RA key placement"); ra_key_label is then unused.
  std::string ra_key_file;
};

// Whether `name` may name a further issuing CA: [a-z0-9_-]{1,64}, the
// alphabet of profile names.
bool IsValidIssuingCaName(absl::string_view name);

// The default CA followed by one entry per name in `names`, laid out the
// way `scep-provision --ca-label <ca>-NAME --ra-label <ra>-NAME --out-dir
// DIR/NAME` writes them: keys labelled `<default ca label>-NAME` and
// `<default ra label>-NAME`, certificates DIR/NAME/ca.pem and ra.pem, where
// DIR is `dir` or, when empty, the directory of the default CA certificate.
// When the default CA's RA key is a file, each further CA's is
// DIR/NAME/ra-key.pem (`scep-provision --ra-key-file DIR/NAME/ra-key.pem`).
// InvalidArgument naming the entry for a bad or duplicate name.
absl::StatusOr<std::vector<IssuingCaFiles>> IssuingCaFilesFor(
    const std::vector<std::string>& names, absl::string_view dir,
    IssuingCaFiles default_ca);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUING_CA_CONFIG_H_
