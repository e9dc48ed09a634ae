#ifndef SCEP_COMMON_BASE_THREAD_POOL_H_
#define SCEP_COMMON_BASE_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace scep::base {

// A fixed set of threads running posted tasks in FIFO order, with a bounded
// queue so overload is refused at the door instead of piling up latency.
// Thread-safe. The destructor runs every task already accepted, then joins.
class ThreadPool {
 public:
  // `threads` >= 1 workers; at most `max_queue` tasks waiting (0 = unbounded).
  ThreadPool(int threads, size_t max_queue);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`. false (task not queued) when the queue is full or the
  // pool is shutting down.
  bool TryPost(std::function<void()> task);

  // Stops accepting, runs what is queued, joins. Idempotent.
  void Shutdown();

  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  const size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_THREAD_POOL_H_
