#ifndef SCEP_BENCH_PARALLEL_H_
#define SCEP_BENCH_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace scep::bench {

// Calls fn(i) for every i in [0, n) on up to `threads` threads, handing out
// indices dynamically. `fn` must be safe to call concurrently.
template <typename Fn>
void ParallelFor(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  const int extra = std::max(1, threads) - 1;
  for (int t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace scep::bench

#endif  // SCEP_BENCH_PARALLEL_H_
