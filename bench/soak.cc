#include "bench/soak.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace scep::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Bounded FIFO of prepared requests; Pop returns false once closed.
class RequestQueue {
 public:
  explicit RequestQueue(size_t capacity) : capacity_(capacity) {}

  bool Push(Enrollment e) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(e));
    not_empty_.notify_one();
    return true;
  }

  bool Pop(Enrollment& out) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (closed_) return false;
    out = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Enrollment> items_;
  bool closed_ = false;
};

}  // namespace

void RunSoak(const SoakOptions& options, const std::vector<DeviceKey>& keys,
             const ServerCerts& server, RunReport& report) {
  RequestQueue queue(static_cast<size_t>(options.concurrency) * 4);
  std::atomic<bool> stop{false};
  std::atomic<size_t> batch{0}, sent{0}, ok{0}, failed{0};
  std::atomic<int> connects{0};
  std::mutex mu;  // guards latencies and report.failures / failure_sample
  std::vector<double> latencies;
  std::string build_error;

  auto producer = [&] {
    while (!stop) {
      BuildOptions build = options.build;
      build.run_id = absl::StrCat(options.build.run_id, ".", batch++);
      auto made = BuildEnrollments(16, keys, server.ra.get(), build, 1);
      if (!made.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        build_error = std::string(made.status().message());
        stop = true;
        queue.Close();
        return;
      }
      for (Enrollment& e : *made) {
        if (!queue.Push(std::move(e))) return;
      }
    }
  };
  const std::string target = options.url.path + "?operation=PKIOperation";
  auto sender = [&] {
    HttpConnection conn(options.url);
    Enrollment e;
    while (!stop && queue.Pop(e)) {
      Clock::time_point t0 = Clock::now();
      auto resp = conn.RoundTrip("POST", target, e.request_der,
                                 "application/x-pki-message");
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      ++sent;
      std::string kind, detail;
      if (!resp.ok()) {
        kind = "io_error";
        detail = std::string(resp.status().message());
      } else {
        kind = VerifyReply(e, keys[e.key_index], server, *resp, &detail);
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.push_back(ms);
      if (kind.empty()) {
        ++ok;
      } else {
        ++failed;
        ++report.failures[kind];
        report.failure_sample.emplace(kind, detail.substr(0, 160));
      }
    }
    connects += conn.connects();
  };

  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < options.producers; ++p) threads.emplace_back(producer);
  for (int c = 0; c < options.concurrency; ++c) threads.emplace_back(sender);
  size_t last = 0;
  for (int tick = 1; !stop; ++tick) {
    std::this_thread::sleep_until(start + std::chrono::seconds(tick));
    if (options.progress) {
      size_t now = sent.load();
      std::cerr << absl::StrFormat(
          "[%4ds] %zu sent, %zu/s in the last second, %zu verified, %zu failed, "
          "%zu queued\n",
          tick, now, now - last, ok.load(), failed.load(), queue.Size());
      last = now;
    }
    if (Clock::now() - start >= std::chrono::duration<double>(options.seconds)) {
      stop = true;
    }
  }
  queue.Close();
  for (auto& t : threads) t.join();
  if (!build_error.empty()) ++report.failures["build_error: " + build_error];

  report.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.requested = report.sent = sent.load();
  report.succeeded = ok.load();
  report.connects = connects.load();
  report.latency = Summarize(latencies);
}

}  // namespace scep::bench
