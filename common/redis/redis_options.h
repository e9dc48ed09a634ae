#ifndef SCEP_COMMON_REDIS_REDIS_OPTIONS_H_
#define SCEP_COMMON_REDIS_REDIS_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::redis {

// Where and how to reach Redis. Checked by RedisEnrollmentStore::New.
struct RedisOptions {
  std::string host = "127.0.0.1";  // Name or address; TCP only.
  int port = 6379;
  // Secret. Sent with AUTH on every new connection, before any other
  // command, when non-empty; never logged nor put in a Status message.
  std::string password;
  // Redis 6+ ACL user: AUTH `username` `password`. Empty: the default user
  // (AUTH `password`, i.e. requirepass). Needs a password.
  std::string username;
  int db = 0;  // SELECTed on every new connection when non-zero.
  // Bounds each TCP connect.
  absl::Duration connect_timeout = absl::Milliseconds(500);
  // Bounds each send and each reply read on a connection.
  absl::Duration command_timeout = absl::Seconds(1);
  // Most connections open at once; callers beyond it wait for a free one.
  size_t pool_size = 16;
  // Circuit breaker: after a connect or command fails at the transport level
  // (refused, reset, timed out) or no connection frees up in time, further
  // commands fail at once (Unavailable) for this long, then one command
  // probes whether Redis is back while the others keep failing fast; the
  // first success closes it. Without it every caller waits out its own
  // timeouts while Redis hangs (a request took 14 s to get its 503 with
  // Redis stopped). Zero disables it.
  absl::Duration failure_cooldown = absl::Milliseconds(500);
  // Replication acknowledgement: after a write run with Ack::kReplicas (a
  // transaction's completion, a revocation, the admin API's one-time
  // challenges, approval requests and their transitions) the same connection sends
  // WAIT `wait_replicas` `wait_timeout`, so the answer waits until that
  // many replicas have everything written so far. 0: no WAIT. The write
  // stands either way; fewer replicas within `wait_timeout` (a replica
  // down or lagging) are reported to `on_unreplicated` (operation, replicas
  // that acknowledged; -1 when WAIT itself failed).
  int wait_replicas = 0;
  absl::Duration wait_timeout = absl::Milliseconds(100);
  std::function<void(absl::string_view operation, int64_t acknowledged)> on_unreplicated;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_OPTIONS_H_
