#include "common/base/process.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"

namespace scep::base {
namespace {

// Takes two mutexes in one order, then in the other: a lock-order cycle.
void InvertLockOrder() {
  absl::Mutex a;
  absl::Mutex b;
  a.Lock();
  b.Lock();
  b.Unlock();
  a.Unlock();
  b.Lock();
  a.Lock();
  a.Unlock();
  b.Unlock();
}

// Why the call exists: with Debian's abseil (built without NDEBUG) the
// default tracks every acquisition and dies on a cycle. Death tests run
// first, and "threadsafe" re-runs only this test in a fresh process, so the
// call in the other test cannot leak into it.
TEST(MutexDeadlockDetectionDeathTest, DebianAbseilTracksLockOrderByDefault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(InvertLockOrder(), "deadlock");
}

TEST(MutexDeadlockDetection, DisabledLockOrderInversionIsNotTracked) {
  DisableMutexDeadlockDetection();
  DisableMutexDeadlockDetection();  // idempotent
  InvertLockOrder();
  // Still here: nothing recorded the order, so nothing aborted.
  SUCCEED();
}

// Runs in the death test's child: reports what a core dump would see.
[[noreturn]] void DisableCoreDumpsAndReport() {
  const absl::Status status = DisableCoreDumps();
  struct rlimit core = {1, 1};
  getrlimit(RLIMIT_CORE, &core);
  std::fprintf(stderr, "status=%s dumpable=%d core=%llu/%llu\n",
               status.ok() ? "ok" : "failed", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
               static_cast<unsigned long long>(core.rlim_cur),
               static_cast<unsigned long long>(core.rlim_max));
  _exit(0);
}

// In a child, so this test process keeps its own limits. The hard limit is
// 0 too: a later setrlimit (a library, a shell's ulimit) cannot raise it.
TEST(DisableCoreDumpsDeathTest, NoCoreAndNotDumpable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(DisableCoreDumpsAndReport(), ::testing::ExitedWithCode(0),
              "status=ok dumpable=0 core=0/0");
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}

// Runs in the death test's child: lowers the soft limit as a container
// runtime would, raises it, and reports both limits.
[[noreturn]] void RaiseOpenFileLimitAndReport() {
  struct rlimit files = {0, 0};
  getrlimit(RLIMIT_NOFILE, &files);
  const rlim_t hard = files.rlim_max;
  files.rlim_cur = 64;
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) _exit(2);
  const absl::StatusOr<uint64_t> raised = RaiseOpenFileLimit();
  getrlimit(RLIMIT_NOFILE, &files);
  const bool at_hard =
      hard == RLIM_INFINITY ? files.rlim_cur > 64 : files.rlim_cur == hard;
  std::fprintf(stderr, "status=%s at_hard=%d reported=%d\n", raised.ok() ? "ok" : "failed",
               at_hard ? 1 : 0, raised.ok() && *raised == files.rlim_cur ? 1 : 0);
  _exit(0);
}

TEST(RaiseOpenFileLimitDeathTest, SoftLimitGoesToTheHardLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(RaiseOpenFileLimitAndReport(), ::testing::ExitedWithCode(0),
              "status=ok at_hard=1 reported=1");
}

// Linked like the services (scep::malloc): the configured allocator is the
// one malloc resolves to, so the link did not drop it.
TEST(MallocName, IsTheConfiguredAllocator) {
  EXPECT_STREQ(MallocName(), SCEP_EXPECTED_MALLOC);
}

}  // namespace
}  // namespace scep::base
