#include "common/metrics/lifecycle.h"

#include <chrono>
#include <future>
#include <memory>
#include <thread>

namespace scep::metrics {

bool RunWithin(std::function<void()> fn, absl::Duration limit) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([fn = std::move(fn), done] {
    fn();
    done->set_value();
  }).detach();
  return finished.wait_for(std::chrono::milliseconds(
             absl::ToInt64Milliseconds(limit))) == std::future_status::ready;
}

}  // namespace scep::metrics
