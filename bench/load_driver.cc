#include "bench/load_driver.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/str_format.h"

namespace scep::bench {

DriveResult Drive(size_t n, const std::function<RequestSpec(size_t)>& make,
                  const DriveOptions& options) {
  using Clock = std::chrono::steady_clock;
  DriveResult result;
  result.exchanges.resize(n);
  std::atomic<size_t> next{0}, completed{0}, non_200{0};
  std::atomic<int> connects{0};
  std::atomic<bool> stop{false};
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      options.max_seconds > 0
          ? start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(options.max_seconds))
          : Clock::time_point::max();

  auto worker = [&] {
    HttpConnection conn(options.url);
    for (;;) {
      if (stop.load(std::memory_order_relaxed) || Clock::now() >= deadline) break;
      size_t i = next++;
      if (i >= n) break;
      RequestSpec spec = make(i);
      Exchange& ex = result.exchanges[i];
      ex.sent = true;
      Clock::time_point t0 = Clock::now();
      absl::StatusOr<HttpResponse> resp = conn.RoundTrip(
          spec.method, spec.target, spec.body, "application/x-pki-message");
      ex.latency_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (resp.ok()) {
        ex.response = *std::move(resp);
        if (ex.response.status != 200) ++non_200;
      } else {
        ex.transport_error = std::string(resp.status().message());
        ++non_200;
      }
      ++completed;
    }
    connects += conn.connects();
  };

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread reporter([&] {
    if (!options.progress) return;
    size_t last = 0;
    std::unique_lock<std::mutex> lock(mu);
    for (int tick = 1; !cv.wait_for(lock, std::chrono::seconds(1), [&] { return done; });
         ++tick) {
      size_t now = completed.load();
      std::cerr << absl::StrFormat(
          "[%3ds] %zu/%zu done, %zu/s in the last second, %zu non-200 or I/O errors\n",
          tick, now, n, now - last, non_200.load());
      last = now;
    }
  });

  std::vector<std::thread> pool;
  for (int c = 0; c < options.concurrency; ++c) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  result.wall_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  reporter.join();
  for (const Exchange& ex : result.exchanges) result.sent += ex.sent ? 1 : 0;
  result.connects = connects.load();
  return result;
}

}  // namespace scep::bench
