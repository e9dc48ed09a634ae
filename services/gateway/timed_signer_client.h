#ifndef SCEP_SERVICES_GATEWAY_TIMED_SIGNER_CLIENT_H_
#define SCEP_SERVICES_GATEWAY_TIMED_SIGNER_CLIENT_H_

#include <memory>

#include "services/gateway/gateway_metrics.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// A SignerClient decorator recording each call's latency and failures by
// RPC method, and each newly issued certificate, in `metrics`. Results pass
// through unchanged. `inner` and `metrics` are not owned and must outlive
// the decorator. Thread-safe when `inner` is.
std::unique_ptr<SignerClient> NewTimedSignerClient(SignerClient* inner,
                                                   GatewayMetrics* metrics);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_TIMED_SIGNER_CLIENT_H_
