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
};

// Whether `name` may name a further issuing CA: [a-z0-9_-]{1,64}, the
// alphabet of profile names.
bool IsValidIssuingCaName(absl::string_view name);

// The default CA followed by one entry per name in `names`, laid out the
// way `scep-provision --ca-label <ca>-NAME --ra-label <ra>-NAME --out-dir
// DIR/NAME` writes them: keys labelled `<default ca label>-NAME` and
// `<default ra label>-NAME`, certificates DIR/NAME/ca.pem and ra.pem, where
// DIR is `dir` or, when empty, the directory of the default CA certificate.
// InvalidArgument naming the entry for a bad or duplicate name.
absl::StatusOr<std::vector<IssuingCaFiles>> IssuingCaFilesFor(
    const std::vector<std::string>& names, absl::string_view dir,
    IssuingCaFiles default_ca);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUING_CA_CONFIG_H_
