#include "bench/report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "absl/strings/str_format.h"

namespace scep::bench {
namespace {

double Rank(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

LatencySummary Summarize(std::vector<double>& samples_ms) {
  LatencySummary s;
  if (samples_ms.empty()) return s;
  std::sort(samples_ms.begin(), samples_ms.end());
  s.p50 = Rank(samples_ms, 0.50);
  s.p90 = Rank(samples_ms, 0.90);
  s.p99 = Rank(samples_ms, 0.99);
  s.max = samples_ms.back();
  s.mean = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) /
           static_cast<double>(samples_ms.size());
  return s;
}

size_t RunReport::FailureCount() const {
  size_t n = 0;
  for (const auto& [kind, count] : failures) n += count;
  return n;
}

void PrintHuman(const RunReport& r, std::ostream& out) {
  out << absl::StrFormat(
      "%s mix=%s n=%d sent=%d c=%d keys=%d cipher=%s digest=%s\n"
      "  prepared in %.1f s, ran %.2f s (client CPU %.2f s), verified in %.1f s, "
      "%d connections\n"
      "  %.1f %s/s  ok=%d  failed=%d\n"
      "  latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  mean %.1f\n",
      r.url, r.mix, r.requested, r.sent, r.concurrency, r.keys, r.cipher,
      r.digest, r.prepare_seconds, r.wall_seconds, r.client_cpu_seconds, r.verify_seconds,
      r.connects, r.Throughput(), r.mix == "enroll" || r.mix == "soak" ? "enrollments"
                                   : r.mix == "renew" ? "renewals" : "requests",
      r.succeeded, r.FailureCount(), r.latency.p50, r.latency.p90,
      r.latency.p99, r.latency.max, r.latency.mean);
  if (!r.retry.empty()) {
    out << " ";
    for (const auto& [name, count] : r.retry) out << absl::StrFormat(" %s=%d", name, count);
    out << "\n";
  }
  for (const auto& [kind, count] : r.failures) {
    auto it = r.failure_sample.find(kind);
    out << absl::StrFormat("  failure %-26s %6d  e.g. %s\n", kind, count,
                           it == r.failure_sample.end() ? "" : it->second);
  }
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void PrintJson(const RunReport& r, std::ostream& out) {
  out << "{\"url\": " << JsonString(r.url) << ", \"mix\": " << JsonString(r.mix)
      << ", \"cipher\": " << JsonString(r.cipher)
      << ", \"digest\": " << JsonString(r.digest) << ", \"n\": " << r.requested
      << ", \"sent\": " << r.sent << ", \"succeeded\": " << r.succeeded
      << ", \"setup_sent\": " << r.setup_sent
      << ", \"setup_failures\": " << r.setup_failures
      << absl::StrFormat(", \"setup_wall_seconds\": %.3f", r.setup_wall_seconds)
      << ", \"failed\": " << r.FailureCount()
      << ", \"concurrency\": " << r.concurrency << ", \"keys\": " << r.keys
      << ", \"connections\": " << r.connects
      << absl::StrFormat(
             ", \"prepare_seconds\": %.3f, \"wall_seconds\": %.3f, "
             "\"verify_seconds\": %.3f, \"client_cpu_seconds\": %.3f, "
             "\"throughput_per_s\": %.2f, "
             "\"latency_ms\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, "
             "\"max\": %.2f, \"mean\": %.2f}",
             r.prepare_seconds, r.wall_seconds, r.verify_seconds,
             r.client_cpu_seconds, r.Throughput(),
             r.latency.p50, r.latency.p90, r.latency.p99, r.latency.max,
             r.latency.mean)
      << ", \"failures\": {";
  bool first = true;
  for (const auto& [kind, count] : r.failures) {
    out << (first ? "" : ", ") << JsonString(kind) << ": " << count;
    first = false;
  }
  out << "}, \"failure_samples\": {";
  first = true;
  for (const auto& [kind, sample] : r.failure_sample) {
    out << (first ? "" : ", ") << JsonString(kind) << ": " << JsonString(sample);
    first = false;
  }
  out << "}";
  if (!r.retry.empty()) {
    out << ", \"retry\": {";
    first = true;
    for (const auto& [name, count] : r.retry) {
      out << (first ? "" : ", ") << JsonString(name) << ": " << count;
      first = false;
    }
    out << "}";
  }
  out << "}\n";
}

}  // namespace scep::bench
