#ifndef SCEP_SERVICES_SIGNER_ISSUING_CAS_H_
#define SCEP_SERVICES_SIGNER_ISSUING_CAS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/metrics/json_log.h"
#include "services/signer/issuance_policy.h"
#include "services/signer/issuing_ca_config.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_metrics.h"
#include "services/signer/signer_service.h"

namespace scep::pkcs11 {
class Token;
}

namespace scep::signer {

// Where the keys of the issuing CAs are: CA keys in `ca_token`; RA keys in
// `ra_token_label` of `ra_token` (the CA's Token, one serving it as a
// further token, or another module's), unless an IssuingCaFiles names an RA
// key file. Not owned.
struct IssuingCaKeys {
  pkcs11::Token* ca_token = nullptr;
  pkcs11::Token* ra_token = nullptr;
  std::string ra_token_label;
};

struct IssuingCaDefaults {
  int validity_days = 365;
  std::string digest = "sha256";
  std::string next_ca_cert;  // the default CA's GetNextCACert; "" = none
  std::string next_ra_cert;  // the RA certificate the next CA issued; "" = none
  // Issuance policy by CA name ("" = the default CA); a CA left out gets
  // the built-in rules only.
  std::map<std::string, IssuancePolicy> policies;
};

struct IssuingCas {
  std::vector<std::unique_ptr<SignerCore>> cores;
  SignerService::IssuingCas by_name;  // "" = the default CA
  std::string default_ca_sha256;      // fingerprint of the default CA
};

// One SignerCore per entry of `files` (the default CA first): certificates
// loaded and checked against their keys, key operations timed in `metrics`
// ("ca"/"ra", or "ca-NAME"/"ra-NAME"), certificate expiry published and
// logged when near, the previous RA certificate accepted when there is one
// (AcceptPreviousRaOf; an unusable one is logged and left out), a CA
// under another root with its ca-chain.pem beside ca.pem (verified), its
// issuance policy from `defaults.policies`, and one `issuing_ca` log line
// each. An error names the CA and the file or key.
absl::StatusOr<IssuingCas> OpenIssuingCas(const std::vector<IssuingCaFiles>& files,
                                          const IssuingCaKeys& keys,
                                          const IssuingCaDefaults& defaults,
                                          SignerMetrics& metrics, metrics::JsonLogger& log);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUING_CAS_H_
