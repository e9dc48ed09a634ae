#ifndef SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_H_
#define SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_H_

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/enrollment_scripts.h"
#include "common/redis/enrollment_store.h"
#include "common/redis/redis_options.h"
#include "common/redis/redis_write_journal.h"

namespace scep::redis {

class RedisConnectionPool;

// EnrollmentStore on Redis (key layout in store_keys.h), shared by every
// gateway pod. Each method is one round trip on a pooled connection;
// transaction steps run as Lua scripts (EVALSHA, falling back to EVAL when
// the server's script cache lacks them) so they are atomic across pods.
// Any Redis failure (unreachable, timeout, error reply) is Unavailable.
// Broken connections are dropped and reopened on later calls, so the store
// recovers by itself when Redis comes back. ForgetNonce, CompleteTransaction
// and ReleaseTransaction that fail to reach Redis still return Unavailable
// but are kept and applied before the next command once Redis is back
// (RedisWriteJournal); every method answers Unavailable until they are.
// RecordNonce, ClaimTransaction and RecordNonceAndClaim that fail with
// Unavailable may have run before Redis died; their undo (forget the nonce;
// delete the claim if it is still this call's) is kept the same way, so the
// caller's 503 leaves nothing half-written.
// Thread-safe.
class RedisEnrollmentStore : public EnrollmentStore {
 public:
  // FailedPrecondition for unusable options. Opens no connection, so it
  // succeeds while Redis is still down (calls return Unavailable until it
  // is up); use Ping() for readiness.
  static absl::StatusOr<std::unique_ptr<RedisEnrollmentStore>> New(
      RedisOptions options);

  ~RedisEnrollmentStore() override;
  RedisEnrollmentStore(const RedisEnrollmentStore&) = delete;
  RedisEnrollmentStore& operator=(const RedisEnrollmentStore&) = delete;

  absl::StatusOr<NonceUse> RecordNonce(absl::string_view profile,
                                       absl::string_view nonce,
                                       absl::string_view message,
                                       absl::Duration ttl) override;
  absl::Status ForgetNonce(absl::string_view profile,
                           absl::string_view nonce) override;
  absl::StatusOr<Transaction> ClaimTransaction(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) override;
  // One script, one round trip.
  absl::StatusOr<std::optional<Transaction>> RecordNonceAndClaim(
      absl::string_view profile, absl::string_view nonce, absl::string_view message,
      absl::Duration nonce_ttl, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) override;
  absl::Status CompleteTransaction(absl::string_view profile,
                                   absl::string_view transaction_id,
                                   absl::string_view fingerprint,
                                   absl::string_view certificate,
                                   absl::Duration ttl) override;
  // Keeps only `serial_hex` when scep:cert:{serial} (RedisCertificateIndex,
  // same Redis) holds `certificate`. InvalidArgument for a malformed serial.
  absl::Status CompleteIndexedTransaction(absl::string_view profile,
                                          absl::string_view transaction_id,
                                          absl::string_view fingerprint,
                                          absl::string_view certificate,
                                          absl::string_view serial_hex,
                                          absl::Duration ttl,
                                          NoticeToQueue notice = {}) override;
  bool QueuesNotices() const override { return true; }
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

  RedisEnrollmentStore(std::unique_ptr<RedisConnectionPool> pool,
                       bool confirmed_completions);

  // ClaimTransaction, recording `nonce` with `message` first when given
  // (nullopt: replay).
  absl::StatusOr<std::optional<Transaction>> Claim(
      absl::string_view op, absl::string_view profile,
      std::optional<absl::string_view> nonce, absl::string_view message,
      absl::Duration nonce_ttl,
      absl::string_view transaction_id, absl::string_view fingerprint,
      absl::Duration pending_ttl);

  // Replays journalled writes; Unavailable while Redis cannot take them.
  absl::Status Flushed(absl::string_view operation);

  const std::unique_ptr<RedisConnectionPool> pool_;
  // RedisOptions::wait_replicas > 0: completions are confirmed, never
  // journalled (CompleteIndexedTransaction).
  const bool confirmed_completions_;
  RedisWriteJournal journal_;
  const LuaScript claim_;
  const LuaScript nonce_;
  const LuaScript complete_;
  const LuaScript release_;
  const LuaScript abandon_;
  const LuaScript reopen_;
  const LuaScript reject_;
  const LuaScript read_;
  const LuaScript park_;
  const LuaScript take_over_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_H_
