#ifndef SCEP_COMMON_METRICS_COUNTER_SUM_H_
#define SCEP_COMMON_METRICS_COUNTER_SUM_H_

// Test support: reading samples back from a prometheus-cpp registry.

#include <prometheus/registry.h>

#include <map>
#include <string>

namespace scep::metrics {

// The sum of the samples of `name` over its series that carry every label
// in `labels` with that value (every series when `labels` is empty):
// counters and gauges their value, histograms their sample count.
inline double SampleSum(const prometheus::Registry& registry, const std::string& name,
                        const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      size_t matched = 0;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        auto it = labels.find(l.name);
        if (it != labels.end() && it->second == l.value) ++matched;
      }
      if (matched != labels.size()) continue;
      sum += m.counter.value + m.gauge.value + static_cast<double>(m.histogram.sample_count);
    }
  }
  return sum;
}

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_COUNTER_SUM_H_
