#ifndef SCEP_BENCH_PARSE_BENCH_H_
#define SCEP_BENCH_PARSE_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace scep::bench {

// Per-call cost of the parses every enrollment makes, OpenSSL's way and
// ours (crypto/public_keys.h), measured side by side in one process:
// `threads` threads run each case for `seconds` (both cores busy shows the
// lock contention of OpenSSL 3.0's decoder set-up).
struct ParseCase {
  std::string name;
  double micros_per_call = 0;  // wall time x threads / calls
  long long calls = 0;
};

absl::StatusOr<std::vector<ParseCase>> MeasureParses(int threads, double seconds);

}  // namespace scep::bench

#endif  // SCEP_BENCH_PARSE_BENCH_H_
