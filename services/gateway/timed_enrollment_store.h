#ifndef SCEP_SERVICES_GATEWAY_TIMED_ENROLLMENT_STORE_H_
#define SCEP_SERVICES_GATEWAY_TIMED_ENROLLMENT_STORE_H_

#include <memory>

#include "common/redis/enrollment_store.h"
#include "services/gateway/gateway_metrics.h"

namespace scep::gateway {

// An EnrollmentStore decorator recording each operation's latency and
// failures (unavailable / timeout / error) in `metrics`, each replayed
// senderNonce (NonceUse::kReplay) as a refused replay and each identical
// message again (kRetransmission) as a retransmission. Results
// pass through unchanged; Ping (readiness probes) is not timed. `inner` and
// `metrics` are not owned and must outlive the decorator. Thread-safe when
// `inner` is.
std::unique_ptr<redis::EnrollmentStore> NewTimedEnrollmentStore(
    redis::EnrollmentStore* inner, GatewayMetrics* metrics);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_TIMED_ENROLLMENT_STORE_H_
