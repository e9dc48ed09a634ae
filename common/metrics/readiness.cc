#include "common/metrics/readiness.h"

#include "absl/strings/str_cat.h"

namespace scep::metrics {

Readiness::~Readiness() { Stop(); }

void Readiness::AddCheck(std::string name, std::function<absl::Status()> check) {
  std::lock_guard<std::mutex> lock(mu_);
  checks_.push_back(Check{std::move(name), std::move(check), false});
}

void Readiness::AddDependencyCheck(std::string name, std::function<absl::Status()> check) {
  std::lock_guard<std::mutex> lock(mu_);
  checks_.push_back(Check{std::move(name), std::move(check), true});
}

void Readiness::OnChange(std::function<void(bool)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void Readiness::RunChecks() {
  std::lock_guard<std::mutex> serialize(run_mu_);
  std::vector<Check> checks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    checks = checks_;
  }
  State next{true, "", true};
  for (const Check& check : checks) {
    absl::Status status = check.fn();
    if (!status.ok()) {
      next.ready = false;
      if (!check.dependency) next.ready_locally = false;
      absl::StrAppend(&next.text, check.name, ": ", status.message(), "\n");
    }
  }
  if (next.ready) next.text = "ready\n";
  Publish(std::move(next));
}

void Readiness::Publish(State state) {
  std::function<void(bool)> listener;
  bool changed = false;
  bool ready = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) {
      state.ready = false;
      state.ready_locally = false;
      state.text = "draining: shutting down\n";
    }
    changed = !have_published_ || state.ready != state_.ready;
    have_published_ = true;
    state_ = std::move(state);
    ready = state_.ready;
    listener = listener_;
  }
  if (changed && listener) listener(ready);
}

void Readiness::Start(absl::Duration interval) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      RunChecks();
      lock.lock();
      cv_.wait_for(lock,
                   std::chrono::milliseconds(absl::ToInt64Milliseconds(interval)),
                   [this] { return stop_; });
    }
  });
}

void Readiness::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

void Readiness::SetDraining() {
  State state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return;
    draining_ = true;
    state = state_;
  }
  Publish(std::move(state));
}

Readiness::State Readiness::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

}  // namespace scep::metrics
