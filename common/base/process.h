#ifndef SCEP_COMMON_BASE_PROCESS_H_
#define SCEP_COMMON_BASE_PROCESS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scep::base {

// Turns off abseil's lock-order (potential deadlock) detection for the whole
// process. Debian's abseil is built without NDEBUG, so by default every
// absl::Mutex acquisition, and gRPC takes several per call, records
// lock-order edges in a process-wide graph under one global spin lock, and a
// detected cycle aborts the process. That is a debugging aid, not something
// a service answering thousands of requests a second should pay for. Call
// first thing in main, before any thread starts. Idempotent.
void DisableMutexDeadlockDetection();

// Keeps this process's memory out of core dumps and away from other
// processes of the same user: sets RLIMIT_CORE to 0 (soft and hard, so it
// cannot be raised again) and marks the process not dumpable
// (PR_SET_DUMPABLE 0), which also makes /proc/self/{environ,mem,maps} and
// ptrace root-only. The services hold the HSM PIN (libp11 keeps its own
// copy for re-login), an RA key file, Redis passwords and challenges for
// their whole life, and a core written to the node's core_pattern would
// carry them outside the pod. Call first thing in main, before any secret
// is read. Internal naming the failed call when either is refused.
absl::Status DisableCoreDumps();

// Raises this process's soft RLIMIT_NOFILE to its hard limit (capped at
// /proc/sys/fs/nr_open when the hard limit is unlimited) and returns the soft
// limit now in force. Container runtimes (containerd 2, systemd units) start
// processes at a soft limit of 1024 whatever the hard limit allows, which a
// server holding thousands of keep-alive connections runs into: accept()
// fails with EMFILE and so does every new Redis or gRPC socket. Call early
// in main, before threads start. Internal naming the failed call.
absl::StatusOr<uint64_t> RaiseOpenFileLimit();

// The malloc this process runs on: "tcmalloc", "jemalloc", "mimalloc" or
// "glibc" (the build's SCEP_MALLOC; logged at start by the services).
const char* MallocName();

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_PROCESS_H_
