#ifndef SCEP_COMMON_REDIS_MEMORY_ENROLLMENT_STORE_H_
#define SCEP_COMMON_REDIS_MEMORY_ENROLLMENT_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/redis/enrollment_store.h"

namespace scep::redis {

// In-process EnrollmentStore with the same semantics and argument checks as
// RedisEnrollmentStore. TTLs run against an injectable clock so unit tests
// are deterministic. State lives only as long as the object: fit for unit
// tests and single-process demos, not for several gateway pods.
// Thread-safe.
class MemoryEnrollmentStore : public EnrollmentStore {
 public:
  using Clock = std::function<absl::Time()>;

  // `clock` is read under the store's lock and must be thread-safe; an empty
  // function means absl::Now. Never fails.
  static std::unique_ptr<MemoryEnrollmentStore> New(Clock clock = {});

  // Test hook: while true, every method returns Unavailable without touching
  // the state, as RedisEnrollmentStore does when Redis is down.
  void SetUnavailable(bool unavailable) { unavailable_.store(unavailable); }

  // Entries held, counting expired ones not yet swept. Expired entries are
  // dropped when looked up and in a sweep every 1024 writes, so memory stays
  // bounded by the live set plus one sweep period.
  size_t entry_count() ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<NonceUse> RecordNonce(absl::string_view profile,
                                       absl::string_view nonce,
                                       absl::string_view message,
                                       absl::Duration ttl) override;
  absl::Status ForgetNonce(absl::string_view profile,
                           absl::string_view nonce) override;
  absl::StatusOr<Transaction> ClaimTransaction(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) override;
  absl::Status CompleteTransaction(absl::string_view profile,
                                   absl::string_view transaction_id,
                                   absl::string_view fingerprint,
                                   absl::string_view certificate,
                                   absl::Duration ttl) override;
  absl::Status ReleaseTransaction(absl::string_view profile,
                                  absl::string_view transaction_id,
                                  absl::string_view fingerprint) override;
  absl::StatusOr<bool> ReopenIssuedTransaction(absl::string_view profile,
                                               absl::string_view transaction_id,
                                               absl::string_view fingerprint,
                                               absl::string_view certificate,
                                               absl::Duration pending_ttl) override;
  absl::Status RejectTransaction(absl::string_view profile,
                                 absl::string_view transaction_id,
                                 absl::Duration ttl) override;
  absl::StatusOr<std::optional<Transaction>> ParkPendingClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::string_view request,
      absl::Duration poll_ttl) override;
  absl::StatusOr<std::optional<ParkedClaim>> TakeOverParkedClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration lease) override;
  absl::StatusOr<std::optional<Transaction>> GetTransaction(
      absl::string_view profile, absl::string_view transaction_id) override;
  absl::Status Ping() override;

 private:
  struct Entry {
    bool issued = false;  // Transactions only: pending until issued.
    bool rejected = false;
    std::string fingerprint;  // of a transaction; a nonce's message
    std::string certificate;
    absl::Time expires;
    // Parked pending claims only: the request, and when the holder's lease ends.
    std::string parked_request;
    std::optional<absl::Time> lease_end;
  };
  using Map = absl::flat_hash_map<std::string, Entry>;

  explicit MemoryEnrollmentStore(Clock clock);

  absl::Status CheckAvailable(absl::string_view operation) const;
  static Transaction::State StateOf(const Entry& entry);
  // The live entry under `key`, or nullptr; drops it when expired.
  Entry* Find(const std::string& key, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bounds memory when callers stop asking about old keys.
  void MaybeSweep(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock clock_;
  std::atomic<bool> unavailable_{false};
  absl::Mutex mu_;
  Map entries_ ABSL_GUARDED_BY(mu_);  // Nonce and transaction keys together.
  uint64_t writes_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_MEMORY_ENROLLMENT_STORE_H_
