#ifndef SCEP_COMMON_BASE_PROCESS_H_
#define SCEP_COMMON_BASE_PROCESS_H_

namespace scep::base {

// Turns off abseil's lock-order (potential deadlock) detection for the whole
// process. Debian's abseil is built without NDEBUG, so by default every
// absl::Mutex acquisition, and gRPC takes several per call, records
// lock-order edges in a process-wide graph under one global spin lock, and a
// detected cycle aborts the process. That is a debugging aid, not something
// a service answering thousands of requests a second should pay for. Call
// first thing in main, before any thread starts. Idempotent.
void DisableMutexDeadlockDetection();

// The malloc this process runs on: "tcmalloc", "jemalloc", "mimalloc" or
// "glibc" (the build's SCEP_MALLOC; logged at start by the services).
const char* MallocName();

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_PROCESS_H_
