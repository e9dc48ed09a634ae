#ifndef SCEP_COMMON_METRICS_READINESS_H_
#define SCEP_COMMON_METRICS_READINESS_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace scep::metrics {

// Whether a process should receive traffic (Kubernetes readiness, /readyz).
//
// Named checks run together on a background thread every `interval` (and
// once by RunChecks()); Get() answers from the last run at once, so a probe
// never waits on a slow dependency and scrapes put no load on it. The
// process is ready only when every check passed on the last run and
// draining has not begun. Before the first run it is not ready.
//
// Thread-safe. Checks must be thread-safe, bounded in time, and must not
// put secrets in their Status message (it is served over HTTP).
class Readiness {
 public:
  struct State {
    bool ready = false;
    // "ready", or one "name: reason" line per failing check.
    std::string text;
    // Ready but for dependency checks (AddDependencyCheck): what
    // `/readyz?local` answers. Its failing dependencies stay in `text`.
    bool ready_locally = false;
  };

  Readiness() = default;
  ~Readiness();  // Stop()
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Registers a check; call before Start().
  void AddCheck(std::string name, std::function<absl::Status()> check);
  // A check of a dependency every replica shares (Redis, the signer): it
  // makes the process not `ready`, but still `ready_locally`, so that a
  // load balancer probing `/readyz?local` keeps every replica in rotation
  // through a shared outage (they answer 503 + Retry-After themselves and
  // serve what needs no dependency) instead of dropping them all at once.
  void AddDependencyCheck(std::string name, std::function<absl::Status()> check);

  // Called with the new readiness whenever it changes (also once after the
  // first run), on the checking thread or the one calling SetDraining().
  void OnChange(std::function<void(bool ready)> listener);

  // Runs every check now and records the result.
  void RunChecks();

  // Starts the background thread (RunChecks every `interval`). Once only.
  void Start(absl::Duration interval);

  // Stops the background thread. Idempotent.
  void Stop();

  // Not ready from now on, whatever the checks say: shutdown has begun.
  void SetDraining();

  State Get() const;

 private:
  struct Check {
    std::string name;
    std::function<absl::Status()> fn;
    bool dependency = false;
  };
  void Publish(State state);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Check> checks_;
  std::function<void(bool)> listener_;
  State state_{false, "starting: checks have not run yet", false};
  bool have_published_ = false;
  bool draining_ = false;
  bool stop_ = false;
  std::thread thread_;
  std::mutex run_mu_;  // one RunChecks at a time
};

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_READINESS_H_
