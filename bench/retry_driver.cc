#include "bench/retry_driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/codec/identifiers.h"

namespace scep::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void Pause(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

struct Counters {
  std::atomic<size_t> done{0}, attempts{0}, unavailable{0}, io{0};
};

class TransactionRunner {
 public:
  TransactionRunner(const std::vector<DeviceKey>& keys, const ServerCerts& server,
                    const RetryOptions& options, Clock::time_point start,
                    Counters& counters)
      : keys_(keys), server_(server), options_(options), start_(start),
        counters_(counters), conn_(options.url),
        target_(options.url.path + "?operation=PKIOperation") {}

  // Drives `e` until it has a final answer; fills outcome/detail/serial of
  // `r` (or confirm_* when `confirm`).
  void Run(Enrollment& e, TransactionResult& r, bool confirm) {
    const Clock::time_point first = Clock::now();
    if (r.first_sent_seconds < 0) r.first_sent_seconds = Since(start_);
    bool unanswered = false;  // an earlier attempt got no certificate back
    Enrollment poll;  // with poll_pending, from the first PENDING on
    const Enrollment* sending = &e;
    double backoff = 0.1;
    std::string outcome, detail, serial;
    for (;;) {
      if (std::chrono::duration<double>(Clock::now() - first).count() >
          options_.give_up_seconds) {
        outcome = "gave_up";
        break;
      }
      ++r.attempts;
      ++counters_.attempts;
      const Clock::time_point t0 = Clock::now();
      absl::StatusOr<HttpResponse> resp =
          conn_.RoundTrip("POST", target_, sending->request_der, "application/x-pki-message");
      r.max_latency_ms = std::max(
          r.max_latency_ms,
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!resp.ok()) {
        ++r.statuses["io"];
        ++counters_.io;
        detail = std::string(resp.status().message());
        unanswered = true;
        Pause(backoff);
        backoff = std::min(backoff * 2, options_.max_wait_seconds);
        continue;
      }
      ++r.statuses[absl::StrCat(resp->status)];
      if (resp->status == 503 || resp->status == 429) {
        ++counters_.unavailable;
        if (resp->retry_after < 0) ++r.unavailable_without_retry_after;
        unanswered = true;
        Pause(resp->retry_after < 0
                  ? backoff
                  : std::min<double>(resp->retry_after, options_.max_wait_seconds));
        backoff = std::min(backoff * 2, options_.max_wait_seconds);
        continue;
      }
      crypto::X509Ptr cert;
      std::string kind =
          VerifyReply(*sending, keys_[e.key_index], server_, *resp, &detail, &cert);
      if (kind.empty()) {
        outcome = "ok";
        serial = codec::SerialHex(X509_get0_serialNumber(cert.get()));
        detail.clear();
        break;
      }
      const bool replay = kind == "failInfo_badRequest" &&
                          absl::StrContains(detail, "senderNonce was seen before");
      if (kind == "pending" || (replay && unanswered)) {
        // The server consumed this senderNonce: the next send needs a new
        // one (RFC 8894 section 3.2.1.5), same transactionID and CSR.
        ++r.fresh_nonce_resends;
        ++(replay ? r.replay_refusals : r.pending);
        absl::Status rebuilt;
        if (options_.poll_pending && (kind == "pending" || sending == &poll)) {
          absl::StatusOr<Enrollment> next =
              BuildCertPoll(e, keys_[e.key_index], server_, options_.build);
          if (next.ok()) {
            poll = *std::move(next);
            sending = &poll;
            ++r.polls;
          }
          rebuilt = next.status();
        } else {
          rebuilt = RebuildWithFreshNonce(e, keys_[e.key_index], server_.ra.get(),
                                          options_.build);
        }
        if (!rebuilt.ok()) {
          outcome = "rebuild_error";
          detail = std::string(rebuilt.message());
          break;
        }
        if (kind == "pending") Pause(options_.max_wait_seconds);
        continue;
      }
      outcome = kind;
      break;
    }
    if (confirm) {
      r.confirm_outcome = outcome;
      r.confirm_serial = serial;
    } else {
      r.outcome = outcome;
      r.detail = detail.substr(0, 200);
      r.serial = serial;
      r.done_seconds = Since(start_);
    }
    ++counters_.done;
  }

 private:
  const std::vector<DeviceKey>& keys_;
  const ServerCerts& server_;
  const RetryOptions& options_;
  const Clock::time_point start_;
  Counters& counters_;
  HttpConnection conn_;
  const std::string target_;
};

// Runs `fn(runner, i)` for i in [0, n) on `concurrency` threads, each with
// its own connection.
template <typename Fn>
void ForEachOnConnections(size_t n, const std::vector<DeviceKey>& keys,
                          const ServerCerts& server, const RetryOptions& options,
                          Clock::time_point start, Counters& counters, Fn fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int c = 0; c < std::max(1, options.concurrency); ++c) {
    pool.emplace_back([&] {
      TransactionRunner runner(keys, server, options, start, counters);
      for (size_t i = next++; i < n; i = next++) fn(runner, i);
    });
  }
  for (auto& t : pool) t.join();
}

}  // namespace

std::vector<TransactionResult> RunWithRetry(std::vector<Enrollment>& requests,
                                            const std::vector<DeviceKey>& keys,
                                            const ServerCerts& server,
                                            const RetryOptions& options,
                                            RunReport& report) {
  std::vector<TransactionResult> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].transaction_id = requests[i].transaction_id;
  }
  Counters counters;
  const Clock::time_point start = Clock::now();
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread reporter([&] {
    if (!options.progress) return;
    std::unique_lock<std::mutex> lock(mu);
    for (int tick = 1;
         !cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished; }); ++tick) {
      std::cerr << absl::StrFormat(
          "[%3ds] %zu/%zu transactions done, %zu attempts, %zu 503/429, %zu I/O errors\n",
          tick, counters.done.load(), requests.size(), counters.attempts.load(),
          counters.unavailable.load(), counters.io.load());
    }
  });
  ForEachOnConnections(requests.size(), keys, server, options, start, counters,
                       [&](TransactionRunner& runner, size_t i) {
                         runner.Run(requests[i], results[i], false);
                       });
  report.wall_seconds = Since(start);
  if (options.confirm) {
    ForEachOnConnections(requests.size(), keys, server, options, start, counters,
                         [&](TransactionRunner& runner, size_t i) {
                           if (results[i].outcome != "ok") return;
                           Enrollment& e = requests[i];
                           if (!RebuildWithFreshNonce(e, keys[e.key_index],
                                                      server.ra.get(), options.build)
                                    .ok()) {
                             results[i].confirm_outcome = "rebuild_error";
                             return;
                           }
                           // The confirmation has counters of its own.
                           TransactionResult confirm;
                           confirm.first_sent_seconds = 0;
                           runner.Run(e, confirm, true);
                           results[i].confirm_outcome = confirm.confirm_outcome;
                           results[i].confirm_serial = confirm.confirm_serial;
                           results[i].confirm_attempts = confirm.attempts;
                         });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  reporter.join();

  std::vector<double> latencies;
  size_t retried = 0, no_retry_after = 0, fresh = 0, confirmed = 0, mismatched = 0;
  for (const TransactionResult& r : results) {
    if (r.attempts == 0) continue;
    ++report.sent;
    latencies.push_back(r.max_latency_ms);
    if (r.attempts > 1) ++retried;
    no_retry_after += static_cast<size_t>(r.unavailable_without_retry_after);
    fresh += static_cast<size_t>(r.fresh_nonce_resends);
    if (r.outcome == "ok") {
      ++report.succeeded;
    } else {
      ++report.failures[r.outcome];
      report.failure_sample.emplace(r.outcome, r.detail.substr(0, 160));
    }
    if (!r.confirm_outcome.empty()) {
      if (r.confirm_outcome == "ok" && r.confirm_serial == r.serial) {
        ++confirmed;
      } else {
        ++mismatched;
      }
    }
  }
  report.latency = Summarize(latencies);
  report.retry["attempts"] = counters.attempts.load();
  report.retry["http_503_or_429"] = counters.unavailable.load();
  report.retry["io_errors"] = counters.io.load();
  report.retry["retried_transactions"] = retried;
  report.retry["unavailable_without_retry_after"] = no_retry_after;
  report.retry["fresh_nonce_resends"] = fresh;
  if (options.confirm) {
    report.retry["confirmed_same_certificate"] = confirmed;
    report.retry["confirm_mismatch"] = mismatched;
    if (mismatched > 0) {
      report.failures["confirm_mismatch"] += mismatched;
      report.failure_sample.emplace(
          "confirm_mismatch", "a retransmission got another certificate or none");
    }
  }
  return results;
}

void WriteResultsJsonl(const std::vector<TransactionResult>& results,
                       std::ostream& out) {
  for (const TransactionResult& r : results) {
    out << "{\"transaction_id\": " << JsonString(r.transaction_id)
        << ", \"attempts\": " << r.attempts << ", \"statuses\": {";
    bool first = true;
    for (const auto& [status, count] : r.statuses) {
      out << (first ? "" : ", ") << JsonString(status) << ": " << count;
      first = false;
    }
    out << "}, \"unavailable_without_retry_after\": "
        << r.unavailable_without_retry_after
        << ", \"fresh_nonce_resends\": " << r.fresh_nonce_resends
        << ", \"replay_refusals\": " << r.replay_refusals
        << ", \"polls\": " << r.polls
        << ", \"pending\": " << r.pending
        << ", \"outcome\": " << JsonString(r.outcome)
        << ", \"detail\": " << JsonString(r.detail)
        << ", \"serial\": " << JsonString(r.serial)
        << ", \"confirm_outcome\": " << JsonString(r.confirm_outcome)
        << ", \"confirm_serial\": " << JsonString(r.confirm_serial)
        << ", \"confirm_attempts\": " << r.confirm_attempts
        << absl::StrFormat(", \"first_sent_s\": %.3f, \"done_s\": %.3f, "
                           "\"max_latency_ms\": %.1f}\n",
                           r.first_sent_seconds, r.done_seconds, r.max_latency_ms);
  }
}

}  // namespace scep::bench
