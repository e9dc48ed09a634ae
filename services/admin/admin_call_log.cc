#include "services/admin/admin_call_log.h"

#include <utility>

namespace scep::admin {

using metrics::LogLevel;
using metrics::LogRecord;

AdminCallLog::AdminCallLog(metrics::JsonLogger* log, gateway::GatewayMetrics* metrics,
                           std::function<absl::Time()> clock)
    : log_(log), metrics_(metrics), clock_(std::move(clock)) {}

void AdminCallLog::Finished(absl::string_view method, absl::string_view actor,
                            const absl::Status& status, bool audited) {
  if (metrics_ != nullptr) metrics_->AdminCall(method, status.code());
  if (audited || log_ == nullptr) return;
  log_->Log(LogRecord(LogLevel::kInfo, "admin_call")
                .Str("method", method)
                .Str("actor", actor)
                .Str("code", absl::StatusCodeToString(status.code())));
}

void AdminCallLog::Refused(absl::string_view method, absl::string_view peer,
                           const absl::Status& status) {
  if (metrics_ != nullptr) metrics_->AdminCall(method, status.code());
  if (log_ == nullptr) return;
  int64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = clock_();
    if (now < next_refusal_line_) {
      ++suppressed_;
      return;
    }
    next_refusal_line_ = now + kRefusalInterval;
    suppressed = std::exchange(suppressed_, 0);
  }
  log_->Log(LogRecord(LogLevel::kWarning, "admin_refused")
                .Str("method", method)
                .Str("peer", peer)
                .Str("code", absl::StatusCodeToString(status.code()))
                .Str("reason", status.message())
                .Int("suppressed", suppressed));
}

}  // namespace scep::admin
