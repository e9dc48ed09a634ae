#ifndef SCEP_SERVICES_GATEWAY_GATEWAY_TIMINGS_H_
#define SCEP_SERVICES_GATEWAY_GATEWAY_TIMINGS_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace scep::gateway {

// The gateway's time bounds that depend on one another, as configured.
struct GatewayTimings {
  absl::Duration signer_deadline;  // one signer call, retries included
  absl::Duration redis_timeout;    // one Redis command
  // How long a transaction claim lives: the issuing request's lease. A
  // claim left by a gateway that died mid-request ends with it, and the
  // device's retry then issues afresh.
  absl::Duration pending_ttl;
  absl::Duration http_read_timeout;  // a request's bytes, once begun
  absl::Duration http_idle_timeout;  // an idle keep-alive connection
};

// InvalidArgument, naming the flags, when a bound cannot hold: a claim
// must outlive the longest issuance it guards (the signer call plus the
// two Redis writes after it, the index entry and the completion), or a
// slow but live request could lose its claim to a retry and the
// transaction get two certificates.
absl::Status CheckTimings(const GatewayTimings& timings);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_GATEWAY_TIMINGS_H_
