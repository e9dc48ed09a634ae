#ifndef SCEP_COMMON_REDIS_REDIS_WRITE_JOURNAL_H_
#define SCEP_COMMON_REDIS_REDIS_WRITE_JOURNAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis {

// Writes that must reach Redis even when it drops in the middle of a
// request: the record of a certificate already handed out (transaction
// completion, certificate index) and the undo of a request's own partial
// state (nonce, transaction claim) before it answers 503. Without them a
// Redis restart leaves a transaction pending with its certificate
// unrecorded (a retransmission then gets a second certificate once the
// claim expires) or a nonce recorded (the identical retry is refused as a
// replay).
//
// RunOrJournal() keeps a write that failed to reach Redis; Flush() replays
// kept writes in order. Callers flush before every command, and refuse the
// command while the flush fails, so within this process a retry always sees
// the journalled writes applied first. Journalled commands must be
// idempotent and self-contained (EVAL with the script source, not EVALSHA:
// a restarted server has an empty script cache). Entries beyond
// `max_entries` drop the oldest, and so do entries older than `max_age`
// (past the pending-claim TTL their point is mostly gone, and a write Redis
// keeps refusing must not hold the store unavailable for ever). The journal
// lives in memory: a gateway
// that dies while Redis is down loses it (the pending claim then expires).
// Thread-safe.
class RedisWriteJournal {
 public:
  RedisWriteJournal(RedisConnectionPool* pool, size_t max_entries = 10000,
                    absl::Duration max_age = absl::Minutes(5))
      : pool_(pool), max_entries_(max_entries), max_age_(max_age) {}

  // Flushes, then sends argv. When either reports Redis unreachable
  // (Unavailable: connection refused, reset, timeout), keeps argv for a
  // later Flush and returns that Unavailable; otherwise the pool's result.
  absl::StatusOr<RedisReplyPtr> RunOrJournal(absl::string_view operation,
                                            absl::Span<const absl::string_view> argv);

  // Replays kept writes in order, oldest first. OK when none is left;
  // Unavailable when Redis is still unreachable or answers that it cannot
  // run commands now (the pool reports LOADING, BUSY, OOM, READONLY, ... as
  // Unavailable), with the remaining writes kept. Other replies, error
  // replies included, are not interpreted: the write was decided when it
  // was first sent.
  absl::Status Flush();

  // Writes kept now; dropped because the journal was full, since start.
  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    uint64_t seq = 0;
    absl::Time kept_at;
    std::string operation;
    std::vector<std::string> argv;
  };

  RedisConnectionPool* const pool_;
  const size_t max_entries_;
  const absl::Duration max_age_;
  absl::Mutex flush_mu_;  // one replay at a time, in order
  absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> dropped_{0};
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_WRITE_JOURNAL_H_
