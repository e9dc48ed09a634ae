#ifndef SCEP_SERVICES_ADMIN_ADMIN_CALL_LOG_H_
#define SCEP_SERVICES_ADMIN_ADMIN_CALL_LOG_H_

#include <cstdint>
#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics/json_log.h"
#include "services/gateway/gateway_metrics.h"

namespace scep::admin {

// What the admin API tells about each call, beside the audit lines of the
// calls that change state:
//  - `admin_call` (info: method, actor, code) for a call that wrote no
//    audit line of its own (reads such as ListRequests, which can return
//    CSRs; refusals of bad input; calls that found nothing to change);
//  - `admin_refused` (warning: method, peer, code, reason) for a call whose
//    credentials were refused, at most one a second per process, with the
//    count of those left out since the last line (`suppressed`), so a
//    flood of guesses cannot fill the disk;
//  - scep_gateway_admin_calls_total{method,code} for every call.
// Never a token or a request body: the reason is the authenticator's
// message, which never echoes what was sent. Thread-safe.
class AdminCallLog {
 public:
  static constexpr absl::Duration kRefusalInterval = absl::Seconds(1);

  // `log` and `metrics` are not owned and may be null (nothing logged,
  // nothing counted). `clock` paces admin_refused.
  AdminCallLog(metrics::JsonLogger* log, gateway::GatewayMetrics* metrics,
               std::function<absl::Time()> clock = absl::Now);

  // A call that passed authentication and ended with `status`; `audited`
  // when it wrote audit lines of its own (then only counted).
  void Finished(absl::string_view method, absl::string_view actor, const absl::Status& status,
                bool audited);

  // A call whose credentials `status` refused (Unauthenticated or
  // PermissionDenied); `peer` is the transport's address of the caller.
  void Refused(absl::string_view method, absl::string_view peer, const absl::Status& status);

 private:
  metrics::JsonLogger* const log_;
  gateway::GatewayMetrics* const metrics_;
  const std::function<absl::Time()> clock_;
  std::mutex mu_;
  absl::Time next_refusal_line_ = absl::InfinitePast();  // guarded by mu_
  int64_t suppressed_ = 0;                               // guarded by mu_
};

}  // namespace scep::admin

#endif  // SCEP_SERVICES_ADMIN_ADMIN_CALL_LOG_H_
