#ifndef SCEP_BENCH_SOAK_H_
#define SCEP_BENCH_SOAK_H_

#include <vector>

#include "bench/enrollment.h"
#include "bench/http_client.h"
#include "bench/report.h"

namespace scep::bench {

struct SoakOptions {
  HttpUrl url;
  int concurrency = 16;
  double seconds = 60;
  int producers = 2;  // threads building requests while the load runs
  BuildOptions build;
  bool progress = true;
};

// Soak mode: for `seconds`, builds PKCSReqs on the fly (a bounded queue
// keeps the producers just ahead of the `concurrency` senders) and verifies
// every reply as it arrives, so memory stays flat however long it runs.
// Unlike the pre-built run, the generator's own crypto (two device-key
// signatures and one decryption per enrollment) shares the machine with the
// target: soak proves stability, the pre-built run measures peak speed.
// Fills `report` (n = sent); keys are reused round robin.
void RunSoak(const SoakOptions& options, const std::vector<DeviceKey>& keys,
             const ServerCerts& server, RunReport& report);

}  // namespace scep::bench

#endif  // SCEP_BENCH_SOAK_H_
