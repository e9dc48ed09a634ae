#ifndef SCEP_SERVICES_SIGNER_PREVIOUS_RA_H_
#define SCEP_SERVICES_SIGNER_PREVIOUS_RA_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/signer/issuing_ca_config.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_metrics.h"

namespace scep::pkcs11 {
class Token;
}

namespace scep::signer {

// What AcceptPreviousRaOf found.
struct PreviousRa {
  std::string certificate;  // path of ra-previous.pem
  std::string serial_hex;
  absl::Time not_after;
  // "same" (an RA renewal kept the key), "token:LABEL:KEY" or "file:PATH".
  std::string key;
};

// Makes `core` accept requests encrypted to the previous RA certificate of
// one issuing CA, as `scep-provision --renew-ra` or `--rollover-ra` leave it
// beside `files.ra_cert` (pkcs11::PreviousPath): with the current RA key when
// it is of that key, else with the previous key (pkcs11::PreviousRaKeyLabel
// of `files.ra_key_label` in `ra_token_label` of `ra_token`, or
// PreviousPath(`files.ra_key_file`)), timed as `metrics_key` when in the
// token. nullopt when there is no previous RA certificate; an error naming
// the file or key (never key material) when it cannot be used: the signer
// then serves without it.
absl::StatusOr<std::optional<PreviousRa>> AcceptPreviousRaOf(
    SignerCore& core, const IssuingCaFiles& files, pkcs11::Token* ra_token,
    const std::string& ra_token_label, SignerMetrics* metrics, const std::string& metrics_key);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_PREVIOUS_RA_H_
