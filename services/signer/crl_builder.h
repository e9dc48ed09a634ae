#ifndef SCEP_SERVICES_SIGNER_CRL_BUILDER_H_
#define SCEP_SERVICES_SIGNER_CRL_BUILDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::signer {

struct RevokedEntry {
  std::string serial;  // big-endian magnitude
  absl::Time revocation_time;
  // RFC 5280 CRLReason; -1 and unspecified (0): no reasonCode (section
  // 5.3.1: absent rather than unspecified).
  int reason = -1;
};

struct CrlParams {
  std::vector<RevokedEntry> revoked;
  uint64_t number = 0;
  absl::Time this_update;
  absl::Time next_update;
};

// An unsigned X.509 v2 CRL of `ca` (RFC 5280 section 5): issuer, thisUpdate,
// nextUpdate, revoked certificates sorted by serial with reasonCode (unless
// unspecified), and the
// cRLNumber and authorityKeyIdentifier extensions. InvalidArgument for
// empty serials, unknown reasons or nextUpdate before thisUpdate.
absl::StatusOr<crypto::X509CrlPtr> BuildCrl(X509* ca, const CrlParams& params);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_CRL_BUILDER_H_
