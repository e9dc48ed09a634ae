#ifndef SCEP_SERVICES_SIGNER_CALLER_RATE_LIMIT_H_
#define SCEP_SERVICES_SIGNER_CALLER_RATE_LIMIT_H_

#include <functional>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scep::signer {

// How many certificates one caller (a gateway, by its mTLS identity or
// address) may have signed: a token bucket per caller holding at most
// `per_minute` tokens, refilled at `per_minute` a minute (scep-signer
// --max_issuance_per_minute). Bounds what a compromised gateway can obtain
// before it is noticed; sized well above a gateway's legitimate peak.
// Thread-safe.
class CallerRateLimit {
 public:
  explicit CallerRateLimit(int per_minute, std::function<absl::Time()> clock = absl::Now);

  // Takes a token for `caller` (CallerKey form). false when its bucket is
  // empty; `log` is then set when this is the caller's first refusal in a
  // minute (so refusals are logged without flooding the log).
  bool Allow(absl::string_view caller, bool* log);

  int per_minute() const { return per_minute_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
    absl::Time logged = absl::InfinitePast();
  };

  const int per_minute_;
  const std::function<absl::Time()> clock_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_;
};

// The bucket key of a caller: an mTLS identity as is, a peer address
// ("ipv4:10.0.0.7:43122", "ipv6:[fd00::7]:43122") without its port, so a
// gateway's connections share one bucket.
std::string CallerKey(absl::string_view caller);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_CALLER_RATE_LIMIT_H_
