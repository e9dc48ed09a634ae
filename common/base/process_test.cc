#include "common/base/process.h"

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

// Linked like the services (scep::malloc): the configured allocator is the
// one malloc resolves to, so the link did not drop it.
TEST(MallocName, IsTheConfiguredAllocator) {
  EXPECT_STREQ(MallocName(), SCEP_EXPECTED_MALLOC);
}

}  // namespace
}  // namespace scep::base
