#ifndef SCEP_BENCH_LOAD_DRIVER_H_
#define SCEP_BENCH_LOAD_DRIVER_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "bench/http_client.h"

namespace scep::bench {

// One HTTP request the driver sends. Views must outlive Drive().
struct RequestSpec {
  absl::string_view method;
  std::string target;  // path and query
  absl::string_view body;
};

// What happened to request i.
struct Exchange {
  bool sent = false;
  double latency_ms = 0;
  std::string transport_error;  // empty when a response arrived
  HttpResponse response;
};

struct DriveOptions {
  HttpUrl url;
  int concurrency = 16;
  double max_seconds = 0;  // 0: until all requests are sent
  bool progress = true;    // one line a second on stderr
};

struct DriveResult {
  std::vector<Exchange> exchanges;
  double wall_seconds = 0;
  size_t sent = 0;
  int connects = 0;
};

// Sends requests 0..n-1 (as made by `make`) over `concurrency` keep-alive
// connections, one thread each; each thread takes the next index when its
// previous response is complete (closed loop). Every response is kept for
// verification after the clock stops.
DriveResult Drive(size_t n, const std::function<RequestSpec(size_t)>& make,
                  const DriveOptions& options);

}  // namespace scep::bench

#endif  // SCEP_BENCH_LOAD_DRIVER_H_
