#ifndef SCEP_COMMON_REDIS_REDIS_CONNECTION_POOL_H_
#define SCEP_COMMON_REDIS_REDIS_CONNECTION_POOL_H_

#include <hiredis/hiredis.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/redis/redis_options.h"

namespace scep::redis {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

namespace internal {
class RedisConnection;  // redis_connection.h
}  // namespace internal

// A bounded pool of synchronous hiredis connections. Connections are opened
// lazily on demand (so the pool works before Redis is up), checked for a
// peer close before reuse, and dropped after any transport error or
// timeout, so the pool heals by itself once Redis is back. A connection
// that finds a replica behind it (READONLY, MASTERDOWN: the primary failed
// over, the endpoint moved on, the connection did not) is closed with every
// idle one and the command is sent once more on a new connection.
// Thread-safe.
//
// hiredis writes with write(2): unless SIGPIPE is ignored when the pool is
// created, every command blocks it on its thread for its duration. A
// process that ignores SIGPIPE must not stop ignoring it afterwards.
class RedisConnectionPool {
 public:
  // FailedPrecondition for unusable options (among them a username without
  // a password). Opens no connection.
  static absl::StatusOr<std::unique_ptr<RedisConnectionPool>> New(
      RedisOptions options);

  ~RedisConnectionPool();
  RedisConnectionPool(const RedisConnectionPool&) = delete;
  RedisConnectionPool& operator=(const RedisConnectionPool&) = delete;

  // Sends one command (binary-safe arguments) on a pooled connection and
  // returns its reply, which may be a Redis error reply
  // (REDIS_REPLY_ERROR): interpreting it is the caller's job. Unavailable
  // when no connection can be had, the transport fails, AUTH on a new
  // connection is refused, the server refuses access (NOAUTH, NOPERM,
  // WRONGPASS), the server did not run the command and may later (LOADING,
  // BUSY, OOM, NOREPLICAS, TRYAGAIN, CLUSTERDOWN: a retry, or a journalled
  // write, can succeed), when the server is a Redis Cluster node (MOVED,
  // ASK, CROSSSLOT: not supported), when the endpoint leads to a replica twice in a row
  // (READONLY, MASTERDOWN), and at once, without touching the network, while the
  // circuit breaker is open (RedisOptions::failure_cooldown); the message
  // starts with "Redis `operation`:" and never holds the password.
  //
  // With Ack::kReplicas and RedisOptions::wait_replicas > 0, a command
  // Redis ran (no error reply) is followed by WAIT on the same connection
  // (RedisOptions::wait_timeout); the reply is the command's whether or not
  // the replicas acknowledged in time. When the connection fails during
  // WAIT (the primary went away, most likely with the write not yet
  // replicated) the result is UnconfirmedWriteError (unconfirmed_write.h):
  // Redis ran the write, and whether it survives is unknown.
  enum class Ack { kPrimary, kReplicas };
  absl::StatusOr<RedisReplyPtr> Run(absl::string_view operation,
                                    absl::Span<const absl::string_view> argv,
                                    Ack ack = Ack::kPrimary);

 private:
  using ContextPtr = std::unique_ptr<internal::RedisConnection>;

  explicit RedisConnectionPool(RedisOptions options);

  // Circuit breaker. Admit: OK when the command may go out (the breaker is
  // closed, or this command is the one probe of a half-open breaker);
  // Unavailable otherwise. Every admitted command reports whether Redis
  // answered at the transport level to Settle.
  absl::Status Admit(absl::string_view operation);
  // `failure`: what went wrong when !transport_ok (repeated by the
  // commands the open breaker turns away).
  void Settle(bool transport_ok, const absl::Status& failure);
  // Run() after admission; `transport_ok` tells Settle what happened.
  absl::StatusOr<RedisReplyPtr> RunAdmitted(absl::string_view operation,
                                            absl::Span<const absl::string_view> argv,
                                            Ack ack, bool* transport_ok);
  // WAIT after a write on `context`; false when the connection is no
  // longer usable. Reports a shortfall to options_.on_unreplicated.
  absl::Status WaitForReplicas(internal::RedisConnection* context,
                               absl::string_view operation);

  // A reusable idle connection, or a slot to open a new one (nullptr).
  // Unavailable when every slot stays busy past the wait bound.
  absl::StatusOr<ContextPtr> Acquire(absl::string_view operation);
  bool SlotFree() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns a slot; `context` is kept for reuse unless null.
  void Release(ContextPtr context);
  // Closes every idle connection (they lead to a server that turned
  // replica); connections in use are closed when they meet it themselves.
  void DropIdle();
  // Opens, authenticates (AUTH before anything else) and selects the
  // database; with sentinels, at the primary they name, checked with ROLE.
  // Unavailable, with the connection closed, when AUTH fails; `refused` is
  // then set when the server answered with an error.
  absl::StatusOr<ContextPtr> Connect(absl::string_view operation, bool* refused);
  // A TCP connection to `endpoint` with the pool's timeouts and keep-alive,
  // TLS on it with RedisOptions::tls.
  absl::StatusOr<ContextPtr> Open(const RedisEndpoint& endpoint,
                                  absl::string_view operation) const;
  // Where the sentinels say the primary is: each asked in turn, starting
  // with the one that answered last. Unavailable, naming every sentinel and
  // why, when none names it.
  absl::StatusOr<RedisEndpoint> FindPrimary(absl::string_view operation);
  // Asks options_.sentinels[index], on the kept connection to it when
  // there is one; keeps the connection after an answer.
  absl::StatusOr<RedisEndpoint> AskSentinel(size_t index, absl::string_view operation);
  // With sentinels: asks them again when `sentinel_recheck` has passed
  // since the last time (one caller asks, the others go on).
  void Recheck(absl::string_view operation);
  // Makes `primary` the one new connections go to and idle ones must lead
  // to; closes the idle connections to another.
  void Adopt(const RedisEndpoint& primary);
  // With sentinels: whether `context` leads to the primary adopted last.
  bool AtPrimary(const internal::RedisConnection& context) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unavailable unless the server behind `context` says ROLE master.
  absl::Status CheckPrimary(internal::RedisConnection* context, const RedisEndpoint& primary,
                            absl::string_view operation, bool* refused) const;

  const RedisOptions options_;
  const bool sigpipe_ignored_;  // SIGPIPE was SIG_IGN when the pool was made
  // Index into options_.sentinels of the one that answered last.
  std::atomic<size_t> sentinel_first_{0};
  absl::Mutex mu_;
  std::vector<ContextPtr> idle_ ABSL_GUARDED_BY(mu_);
  size_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  // The breaker: open while `failing_` and before `retry_at_`; half-open
  // after it, with `probing_` set while the one probe is out.
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  bool probing_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_failure_ ABSL_GUARDED_BY(mu_);  // why the breaker opened
  // With sentinels: the primary they named last, and when to ask again.
  RedisEndpoint primary_ ABSL_GUARDED_BY(mu_);
  absl::Time recheck_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // One connection to the Sentinel that answered last, kept for the next
  // question (each pool asks every `sentinel_recheck`).
  ContextPtr sentinel_context_ ABSL_GUARDED_BY(mu_);
  size_t sentinel_context_index_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_CONNECTION_POOL_H_
