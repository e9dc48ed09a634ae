#ifndef SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_FILE_H_
#define SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_FILE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/signer/issuance_policy.h"

namespace scep::signer {

// Parses the policy file (protos/scep/config/v1/issuance_policy.proto) for
// the issuing CAs `ca_names` ("" = the default CA): one policy per name,
// unconfigured for a CA the file leaves out. FailedPrecondition naming
// `origin`, the CA and the field for malformed JSON, unknown names or
// values, and an entry for a CA this signer does not serve.
absl::StatusOr<std::map<std::string, IssuancePolicy>> ParseIssuancePolicies(
    absl::string_view json, absl::string_view origin,
    const std::vector<std::string>& ca_names);

// The same from a file.
absl::StatusOr<std::map<std::string, IssuancePolicy>> LoadIssuancePolicies(
    const std::string& path, const std::vector<std::string>& ca_names);

// One line for the start-up log, e.g. "max_validity_days=398
// extended_key_usage=clientAuth dns_domains=corp.example"; "built-in rules
// only" when unconfigured.
std::string DescribeIssuancePolicy(const IssuancePolicy& policy);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_FILE_H_
