#include "common/redis/redis_write_journal.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace scep::redis {

absl::StatusOr<RedisReplyPtr> RedisWriteJournal::RunOrJournal(
    absl::string_view operation, absl::Span<const absl::string_view> argv) {
  // Kept writes go first: this one may depend on them (a completion after
  // its claim's undo, say), and must not overtake them.
  absl::Status failed = Flush();
  if (failed.ok()) {
    absl::StatusOr<RedisReplyPtr> reply = pool_->Run(operation, argv);
    if (reply.ok() || !absl::IsUnavailable(reply.status())) return reply;
    failed = reply.status();
  } else {
    failed = absl::UnavailableError(absl::StrCat("Redis ", operation,
                                                 ": earlier writes pending: ",
                                                 failed.message()));
  }
  failed = absl::UnavailableError(
      absl::StrCat(failed.message(), " (kept, applied when Redis is back)"));
  Entry entry{0, absl::Now(), std::string(operation), {}};
  entry.argv.reserve(argv.size());
  for (absl::string_view a : argv) entry.argv.emplace_back(a);
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= max_entries_) {
    entries_.pop_front();
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  entry.seq = next_seq_++;
  entries_.push_back(std::move(entry));
  size_.store(entries_.size(), std::memory_order_release);
  return failed;
}

absl::Status RedisWriteJournal::Flush() {
  if (size() == 0) return absl::OkStatus();
  absl::MutexLock flush_lock(&flush_mu_);
  for (;;) {
    Entry entry;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time too_old = absl::Now() - max_age_;
      while (!entries_.empty() && entries_.front().kept_at < too_old) {
        entries_.pop_front();
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      size_.store(entries_.size(), std::memory_order_release);
      if (entries_.empty()) return absl::OkStatus();
      entry = entries_.front();
    }
    std::vector<absl::string_view> argv(entry.argv.begin(), entry.argv.end());
    absl::StatusOr<RedisReplyPtr> reply = pool_->Run(entry.operation, argv);
    if (!reply.ok()) return reply.status();
    absl::MutexLock lock(&mu_);
    // Unless a full journal dropped it meanwhile.
    if (!entries_.empty() && entries_.front().seq == entry.seq) entries_.pop_front();
    size_.store(entries_.size(), std::memory_order_release);
  }
}

}  // namespace scep::redis
