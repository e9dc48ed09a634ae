#ifndef SCEP_COMMON_REDIS_MEMORY_REQUEST_STORE_H_
#define SCEP_COMMON_REDIS_MEMORY_REQUEST_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis/request_store.h"

namespace scep::redis {

// In-process RequestStore with the semantics, argument checks and page
// tokens of RedisRequestStore. TTLs run against an injectable clock
// (empty: absl::Now). For unit tests and single-process demos. Thread-safe.
class MemoryRequestStore final : public RequestStore {
 public:
  using Clock = std::function<absl::Time()>;
  explicit MemoryRequestStore(Clock clock = {});

  // Test hook: while true, every method returns Unavailable.
  void SetUnavailable(bool unavailable) { unavailable_.store(unavailable); }

  absl::Status Create(const ApprovalRequest& request, absl::Duration ttl) override;
  absl::StatusOr<std::optional<ApprovalRequest>> Get(
      absl::string_view profile, absl::string_view transaction_id) override;
  absl::Status Transition(absl::string_view profile,
                          absl::string_view transaction_id,
                          ApprovalRequest::Status from,
                          ApprovalRequest::Status to, absl::string_view actor,
                          absl::string_view serial_hex) override;
  absl::StatusOr<RequestPage> List(absl::string_view profile,
                                   std::optional<ApprovalRequest::Status> status,
                                   absl::string_view page_token,
                                   int page_size) override;

 private:
  struct Entry {
    ApprovalRequest request;
    int64_t score = 0;  // creation time, ms
    absl::Time expires;
  };
  using Index = std::set<std::pair<int64_t, std::string>>;

  absl::Status CheckAvailable(absl::string_view operation) const;
  // The live entry under `key`, or nullptr; drops it when expired.
  Entry* Find(const std::string& key, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drop(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock clock_;
  std::atomic<bool> unavailable_{false};
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Index key (request_keys.h) → (score, request key).
  std::map<std::string, Index> indexes_ ABSL_GUARDED_BY(mu_);
};

// In-process ChallengeStore (hashes only, like Redis), with an
// unavailability hook and an injectable clock. Thread-safe.
class MemoryChallengeStore final : public ChallengeStore {
 public:
  using Clock = std::function<absl::Time()>;
  explicit MemoryChallengeStore(Clock clock = {});

  void SetUnavailable(bool unavailable) { unavailable_.store(unavailable); }

  absl::Status Create(absl::string_view profile, absl::string_view challenge,
                      absl::string_view subject, absl::Duration ttl) override;
  absl::StatusOr<std::optional<std::string>> Claim(
      absl::string_view profile, absl::string_view challenge,
      absl::string_view transaction_id, absl::string_view fingerprint) override;
  absl::Status Spend(absl::string_view profile, absl::string_view challenge,
                     absl::string_view transaction_id,
                     absl::string_view fingerprint) override;

 private:
  struct Entry {
    std::string subject;
    absl::Time expires;
    std::string holder;  // ChallengeHolder of its claim; "" while unclaimed
  };

  absl::Status CheckAvailable() const;

  const Clock clock_;
  std::atomic<bool> unavailable_{false};
  absl::Mutex mu_;
  // Key (hash of the challenge) → its entry.
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_MEMORY_REQUEST_STORE_H_
