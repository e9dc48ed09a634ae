#ifndef SCEP_BENCH_REPORT_H_
#define SCEP_BENCH_REPORT_H_

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace scep::bench {

// Percentiles of a latency sample, in milliseconds (nearest rank).
struct LatencySummary {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// `samples_ms` is sorted in place.
LatencySummary Summarize(std::vector<double>& samples_ms);

// Everything one load run measured; printed for people and as JSON.
struct RunReport {
  std::string url;
  std::string mix;
  std::string cipher;
  std::string digest;
  size_t requested = 0;    // --n
  size_t sent = 0;         // requests actually issued (--duration may cut)
  size_t succeeded = 0;    // verified end to end
  // Renew mix: the untimed enrollments that came first.
  size_t setup_sent = 0;
  size_t setup_failures = 0;
  double setup_wall_seconds = 0;
  int concurrency = 0;
  int keys = 0;
  int connects = 0;        // TCP connections opened (== concurrency: keep-alive held)
  double prepare_seconds = 0;
  double wall_seconds = 0;  // first send to last reply
  double verify_seconds = 0;
  double client_cpu_seconds = 0;  // this process, while the clock ran
  LatencySummary latency;
  std::map<std::string, size_t> failures;            // kind -> count
  std::map<std::string, std::string> failure_sample;  // kind -> one reason
  // --retry_unavailable: totals over all transactions (attempts, http_503,
  // io_errors, retried_transactions, ...); printed only when not empty.
  std::map<std::string, size_t> retry;

  double Throughput() const {
    return wall_seconds > 0 ? static_cast<double>(succeeded) / wall_seconds : 0;
  }
  size_t FailureCount() const;
};

void PrintHuman(const RunReport& report, std::ostream& out);
void PrintJson(const RunReport& report, std::ostream& out);

// JSON string literal for `s` (quotes included).
std::string JsonString(const std::string& s);

// CPU seconds (user + system) this process has used so far.
double ProcessCpuSeconds();

}  // namespace scep::bench

#endif  // SCEP_BENCH_REPORT_H_
