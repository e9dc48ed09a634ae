#ifndef SCEP_COMMON_METRICS_LIFECYCLE_H_
#define SCEP_COMMON_METRICS_LIFECYCLE_H_

#include <functional>

#include "absl/time/time.h"

namespace scep::metrics {

// Runs `fn` on its own thread and waits at most `limit` for it. true when
// it finished in time. On false `fn` is still running (the thread is
// detached and keeps whatever `fn` captured): the caller is expected to
// exit the process, which is how a shutdown grace period is enforced.
bool RunWithin(std::function<void()> fn, absl::Duration limit);

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_LIFECYCLE_H_
