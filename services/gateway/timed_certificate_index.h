#ifndef SCEP_SERVICES_GATEWAY_TIMED_CERTIFICATE_INDEX_H_
#define SCEP_SERVICES_GATEWAY_TIMED_CERTIFICATE_INDEX_H_

#include <memory>

#include "common/redis/certificate_index.h"
#include "services/gateway/gateway_metrics.h"

namespace scep::gateway {

// A CertificateIndex decorator recording each operation's latency and
// failures in `metrics` under the Redis stage metrics (op "IndexPut",
// "IndexGet", "IndexRevoke", ...), and each Revoke that revoked a
// certificate (newly_revoked: not one revoked before, nor a reason raised
// to keyCompromise) as a revoked certificate. NotFound and InvalidArgument answers are not Redis errors.
// Results pass through unchanged. Owns `inner`; `metrics` is not owned and
// must outlive the decorator. Thread-safe when `inner` is.
std::unique_ptr<redis::CertificateIndex> NewTimedCertificateIndex(
    std::unique_ptr<redis::CertificateIndex> inner, GatewayMetrics* metrics);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_TIMED_CERTIFICATE_INDEX_H_
