#include "common/redis/redis_write_journal.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace scep::redis {
namespace {

// Error replies of a server that did not run the command and will later:
// still loading its AOF after a restart, busy with a script, a replica
// that cannot take writes yet.
bool Transient(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return false;
  const absl::string_view text(reply.str, reply.len);
  for (absl::string_view prefix : {"LOADING", "BUSY", "MASTERDOWN", "READONLY",
                                   "TRYAGAIN", "CLUSTERDOWN"}) {
    if (absl::StartsWith(text, prefix)) return true;
  }
  return false;
}

// Run() with a transient error reply reported as Unavailable.
absl::StatusOr<RedisReplyPtr> Deliver(RedisConnectionPool& pool,
                                      absl::string_view operation,
                                      absl::Span<const absl::string_view> argv) {
  absl::StatusOr<RedisReplyPtr> reply = pool.Run(operation, argv);
  if (reply.ok() && Transient(**reply)) {
    return absl::UnavailableError(absl::StrCat(
        "Redis ", operation, ": ", absl::string_view((*reply)->str, (*reply)->len)));
  }
  return reply;
}

}  // namespace

absl::StatusOr<RedisReplyPtr> RedisWriteJournal::RunOrJournal(
    absl::string_view operation, absl::Span<const absl::string_view> argv) {
  // Kept writes go first: this one may depend on them (a completion after
  // its claim's undo, say), and must not overtake them.
  absl::Status failed = Flush();
  if (failed.ok()) {
    absl::StatusOr<RedisReplyPtr> reply = Deliver(*pool_, operation, argv);
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
    absl::StatusOr<RedisReplyPtr> reply = Deliver(*pool_, entry.operation, argv);
    if (!reply.ok()) return reply.status();
    absl::MutexLock lock(&mu_);
    // Unless a full journal dropped it meanwhile.
    if (!entries_.empty() && entries_.front().seq == entry.seq) entries_.pop_front();
    size_.store(entries_.size(), std::memory_order_release);
  }
}

}  // namespace scep::redis
