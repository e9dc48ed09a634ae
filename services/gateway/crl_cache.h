#ifndef SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
#define SCEP_SERVICES_GATEWAY_CRL_CACHE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// The CA's current CRL (DER), shared by SCEP GetCRL and the admin API.
// The CRL cached in the certificate index is served while it covers the
// latest revocation and has more than half of `validity` left; otherwise
// a new one (next cRLNumber, nextUpdate = now + validity) is signed by the
// CA key and cached, so all gateways serve the same CRL between
// revocations. A revoked certificate leaves the CRL (and the index's
// revocation list) once a CRL issued after its notAfter has listed it
// (RFC 5280 section 3.3), so the CRL's size follows the revoked
// certificates still valid. Unavailable when the index or the signer is
// down; other codes from the signer otherwise. Thread-safe if its
// arguments are.
absl::StatusOr<std::string> CurrentCrl(SignerClient& signer,
                                       redis::CertificateIndex& index,
                                       absl::Duration validity,
                                       absl::Time now = absl::Now());

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
