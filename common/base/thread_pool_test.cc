#include "common/base/thread_pool.h"

#include <atomic>
#include <chrono>

#include "gtest/gtest.h"

namespace scep::base {
namespace {

TEST(ThreadPoolTest, RunsEveryAcceptedTaskBeforeShutdownReturns) {
  std::atomic<int> done{0};
  ThreadPool pool(3, 0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(pool.TryPost([&done] { done.fetch_add(1); }));
  }
  pool.Shutdown();
  EXPECT_EQ(done.load(), 1000);
  EXPECT_FALSE(pool.TryPost([] {}));
}

TEST(ThreadPoolTest, RefusesWhenQueueIsFull) {
  std::atomic<bool> started{false};
  std::atomic<bool> release{false};
  ThreadPool pool(1, 2);
  ASSERT_TRUE(pool.TryPost([&] {
    started = true;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }));
  while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  int accepted = 0;
  for (int i = 0; i < 5; ++i) accepted += pool.TryPost([] {}) ? 1 : 0;
  EXPECT_EQ(accepted, 2);
  release = true;
}

}  // namespace
}  // namespace scep::base
