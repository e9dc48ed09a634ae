#ifndef SCEP_COMMON_REDIS_NOTICE_OUTBOX_H_
#define SCEP_COMMON_REDIS_NOTICE_OUTBOX_H_

// Issuance notices: what an MDM is told about the requests it sent devices
// with (Intune's third-party CA API wants a success notice with the
// certificate, or a failure notice, for each of its challenges). The gateway
// queues a notice with the outcome and a worker delivers it (gateway
// notifier.h); the queue is shared by every gateway pod, so a notice whose
// pod died before delivering it is delivered by another: at least once.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis/redis_options.h"

namespace scep::redis {

// One outcome of one request.
struct Notice {
  enum class Event { kIssued, kFailed };
  Event event = Event::kIssued;
  std::string profile;
  std::string transaction_id;
  std::string message_type;  // "PKCSReq", "RenewalReq", "CertPoll"
  std::string csr;           // DER
  std::string certificate;   // DER, kIssued
  std::string fail_info;     // "badRequest", ..., kFailed
  std::string fail_info_text;
  absl::Time time;           // of the outcome
  // The queue id it was first queued under, for a notice queued again after
  // it was given up ("" = this is its first time): receivers keep
  // deduplicating by it (the notice's notice_id).
  std::string first_id;
};

// The notice_id receivers see: the id it was first queued under.
inline const std::string& NoticeId(const std::string& queue_id, const Notice& notice) {
  return notice.first_id.empty() ? queue_id : notice.first_id;
}

absl::string_view EventName(Notice::Event event);

// A notice in the queue: its id (unique, ordered by queuing time) and when
// it was queued.
struct QueuedNotice {
  std::string id;
  absl::Time queued;
  Notice notice;
};

// A notice the notifier gave up on (its receiver refused it with 4xx, or
// it was not delivered in time), kept for an operator to look at and queue
// again once the receiver is fixed.
struct GivenUpNotice {
  std::string id;        // in the given-up list (not the queue's id)
  absl::Time given_up;
  std::string result;    // "refused", "expired"
  std::string reason;    // "receiver answered HTTP 400", ...
  absl::Time queued;     // when it was first queued
  Notice notice;
};

// What the queue holds, over all gateways.
struct OutboxStats {
  int64_t queued = 0;    // not yet delivered (pending included)
  int64_t pending = 0;   // taken by a worker, not yet done
  int64_t dropped = 0;   // refused because the queue was full, ever
  int64_t given_up = 0;  // in the given-up list
};

// The queue's Redis keys: a stream, its consumer group, and the count of
// notices dropped because the stream was full.
inline constexpr char kNoticeStreamKey[] = "scep:notify";
inline constexpr char kNoticeGroup[] = "gateways";
inline constexpr char kNoticeDroppedKey[] = "scep:notify:dropped";
// Given-up notices (a stream), the newest kGivenUpMax or so kept.
inline constexpr char kNoticeGivenUpKey[] = "scep:notify:given_up";
inline constexpr size_t kGivenUpMax = 10000;

// The notice as stream fields (field, value, field, value, ...), binary
// values as they are; what the Redis outbox and the enrollment store's
// completion script (which queues the issued notice in the same script as
// the completion) add.
std::vector<std::string> NoticeFields(const Notice& notice);
// A given-up notice's fields: NoticeFields (with "i", its first queue id)
// and "gr" (result), "gw" (why), "gq" (first queued, Unix ms). No notice
// field starts with "g".
std::vector<std::string> GivenUpFields(const QueuedNotice& queued, absl::string_view result,
                                       absl::string_view reason);

// Back from the fields; DataLoss for a malformed entry.
absl::StatusOr<Notice> NoticeFromFields(
    const std::vector<std::pair<std::string, std::string>>& fields);

// A queue of notices that several workers take from. Thread-safe.
class NoticeOutbox {
 public:
  virtual ~NoticeOutbox() = default;

  // Queues `notice`. OK and counted as dropped when the queue is full;
  // Unavailable when the queue cannot be reached.
  virtual absl::Status Add(const Notice& notice) = 0;

  // Up to `max` notices for `worker`: first those another worker (or this
  // one) took at least `retry_after` ago and never marked done (its pod
  // died, or the delivery failed and waits for its retry), then new ones.
  // A notice taken stays in the queue until Done.
  virtual absl::StatusOr<std::vector<QueuedNotice>> Take(absl::string_view worker,
                                                         size_t max,
                                                         absl::Duration retry_after) = 0;

  // Removes a delivered (or malformed) notice.
  virtual absl::Status Done(absl::string_view id) = 0;
  // Moves a taken notice from the queue to the given-up list, at once.
  virtual absl::Status GiveUp(const QueuedNotice& queued, absl::string_view result,
                              absl::string_view reason) = 0;
  // The given-up notices of `profile` ("" = every profile), newest first,
  // at most `max`.
  virtual absl::StatusOr<std::vector<GivenUpNotice>> GivenUp(absl::string_view profile,
                                                             size_t max) = 0;
  // Queues the given-up notices `ids` again (new queue entries keeping
  // their first_id, their age counted from now) and takes them off the list: how many. Ids not on
  // the list are skipped; it stops when the queue is full (the rest stay
  // listed). InvalidArgument for an id that is not a list id.
  virtual absl::StatusOr<size_t> Requeue(const std::vector<std::string>& ids) = 0;
  virtual absl::StatusOr<OutboxStats> Stats() = 0;
  // Forgets the workers other than `self` that hold no notice and have not
  // asked for one for `idle`: gateways that are gone (each pod start is a
  // new worker name, else kept by Redis for ever). How many. Default: a
  // queue without per-worker state forgets none.
  virtual absl::StatusOr<size_t> ForgetIdleWorkers(absl::string_view self, absl::Duration idle) {
    (void)self;
    (void)idle;
    return 0;
  }
};

// In-process queue for unit tests and single-process use; nothing survives
// the process.
class MemoryNoticeOutbox final : public NoticeOutbox {
 public:
  explicit MemoryNoticeOutbox(size_t max_queued = 100000) : max_queued_(max_queued) {}

  absl::Status Add(const Notice& notice) override;
  absl::StatusOr<std::vector<QueuedNotice>> Take(absl::string_view worker, size_t max,
                                                 absl::Duration retry_after) override;
  absl::Status Done(absl::string_view id) override;
  absl::Status GiveUp(const QueuedNotice& queued, absl::string_view result,
                      absl::string_view reason) override;
  absl::StatusOr<std::vector<GivenUpNotice>> GivenUp(absl::string_view profile,
                                                     size_t max) override;
  absl::StatusOr<size_t> Requeue(const std::vector<std::string>& ids) override;
  absl::StatusOr<OutboxStats> Stats() override;

 private:
  struct Entry {
    QueuedNotice queued;
    bool taken = false;
    absl::Time taken_at;
  };
  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<GivenUpNotice> given_up_ ABSL_GUARDED_BY(mu_);  // oldest first
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

class RedisConnectionPool;

// The queue as a Redis stream (kNoticeStreamKey) read through a consumer
// group: XREADGROUP for new notices, XAUTOCLAIM for those a worker took
// and never finished, XACK + XDEL when done. Needs Redis 6.2 or later.
// The group is created on first use (and again should the stream vanish,
// FLUSHALL). At most `max_queued` notices are kept; past that Add and the
// completion script drop the new one and count it (kNoticeDroppedKey).
class RedisNoticeOutbox final : public NoticeOutbox {
 public:
  static absl::StatusOr<std::unique_ptr<RedisNoticeOutbox>> New(RedisOptions options,
                                                                size_t max_queued);
  ~RedisNoticeOutbox() override;

  absl::Status Add(const Notice& notice) override;
  absl::StatusOr<std::vector<QueuedNotice>> Take(absl::string_view worker, size_t max,
                                                 absl::Duration retry_after) override;
  absl::Status Done(absl::string_view id) override;
  absl::Status GiveUp(const QueuedNotice& queued, absl::string_view result,
                      absl::string_view reason) override;
  absl::StatusOr<std::vector<GivenUpNotice>> GivenUp(absl::string_view profile,
                                                     size_t max) override;
  absl::StatusOr<size_t> Requeue(const std::vector<std::string>& ids) override;
  absl::StatusOr<OutboxStats> Stats() override;
  // Consumers of the group with nothing pending (XGROUP DELCONSUMER drops
  // a consumer's pending entries: those are never touched).
  absl::StatusOr<size_t> ForgetIdleWorkers(absl::string_view self,
                                           absl::Duration idle) override;

 private:
  RedisNoticeOutbox(std::unique_ptr<RedisConnectionPool> pool, size_t max_queued);
  absl::Status CreateGroup();

  const std::unique_ptr<RedisConnectionPool> pool_;
  const size_t max_queued_;
  absl::Mutex mu_;
  // Where the next XAUTOCLAIM scan starts ("0-0": from the beginning).
  std::string claim_cursor_ ABSL_GUARDED_BY(mu_) = "0-0";
};

// The Lua that queues a notice given as ARGV[first] = the queue's bound
// and ARGV[first + 1 ...] = NoticeFields: XADD unless the stream holds that
// many entries already, else INCR of the dropped count. For scripts that
// queue a notice along with their own writes.
std::string QueueNoticeLua(int first);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_NOTICE_OUTBOX_H_
