#include "common/base/process.h"

#include <dlfcn.h>

#include "absl/synchronization/mutex.h"

namespace scep::base {

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

const char* MallocName() {
  // Each replacement exports an entry point of its own next to malloc.
  if (dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl") != nullptr) return "jemalloc";
  if (dlsym(RTLD_DEFAULT, "mi_malloc") != nullptr) return "mimalloc";
  return "glibc";
}

}  // namespace scep::base
