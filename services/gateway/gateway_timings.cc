#include "services/gateway/gateway_timings.h"

#include "absl/strings/str_cat.h"

namespace scep::gateway {

absl::Status CheckTimings(const GatewayTimings& timings) {
  if (timings.http_read_timeout < absl::Seconds(1) ||
      timings.http_idle_timeout < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "--http_read_timeout_seconds and --http_idle_timeout_seconds must be >= 1");
  }
  const absl::Duration longest_issuance =
      timings.signer_deadline + 2 * timings.redis_timeout;
  if (timings.pending_ttl <= longest_issuance) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--pending_ttl_seconds must exceed --signer_deadline_ms + 2 x "
        "--redis_timeout_ms (",
        absl::FormatDuration(longest_issuance),
        "): a claim must outlive the issuance it guards"));
  }
  return absl::OkStatus();
}

}  // namespace scep::gateway
