#include "services/signer/caller_rate_limit.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"

namespace scep::signer {
namespace {

// Callers remembered at most; beyond, buckets that have refilled (callers
// idle for a minute) are forgotten first.
constexpr size_t kMaxCallers = 4096;

}  // namespace

CallerRateLimit::CallerRateLimit(int per_minute, std::function<absl::Time()> clock)
    : per_minute_(per_minute), clock_(std::move(clock)) {}

bool CallerRateLimit::Allow(absl::string_view caller, bool* log) {
  *log = false;
  const absl::Time now = clock_();
  const double capacity = per_minute_;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(caller);
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxCallers) {
      absl::erase_if(buckets_, [&](const auto& entry) {
        return now - entry.second.updated >= absl::Minutes(1);
      });
    }
    it = buckets_.emplace(std::string(caller), Bucket{capacity, now}).first;
  }
  Bucket& bucket = it->second;
  bucket.tokens = std::min(
      capacity, bucket.tokens + capacity * absl::ToDoubleMinutes(now - bucket.updated));
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return true;
  }
  if (now - bucket.logged >= absl::Minutes(1)) {
    bucket.logged = now;
    *log = true;
  }
  return false;
}

std::string CallerKey(absl::string_view caller) {
  if (absl::StartsWith(caller, "ipv4:")) {
    const size_t colon = caller.rfind(':');
    return std::string(colon > 4 ? caller.substr(0, colon) : caller);
  }
  if (absl::StartsWith(caller, "ipv6:")) {
    const size_t bracket = caller.rfind("]:");
    return std::string(bracket != absl::string_view::npos ? caller.substr(0, bracket + 1)
                                                          : caller);
  }
  return std::string(caller);
}

}  // namespace scep::signer
