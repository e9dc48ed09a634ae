#ifndef SCEP_COMMON_REDIS_REDIS_OPTIONS_H_
#define SCEP_COMMON_REDIS_REDIS_OPTIONS_H_

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::redis {

// A server's TCP address.
struct RedisEndpoint {
  std::string host;  // Name or address.
  int port = 0;
};

// Where and how to reach Redis. Checked by RedisConnectionPool::New.
struct RedisOptions {
  std::string host = "127.0.0.1";  // Name or address; TCP only.
  int port = 6379;
  // Redis Sentinel. When `sentinels` is non-empty, `host` and `port` are
  // not used: each new connection asks the sentinels (in turn, starting with
  // the one that answered last) where the primary named `sentinel_master`
  // is (SENTINEL get-master-addr-by-name), connects there and checks with
  // ROLE that the server is a primary. A failover reaches connections
  // already open as a closed connection (Sentinel kills the clients of a
  // server it reconfigures), as READONLY, or as a changed answer to the
  // periodic question below: connections to the old primary are then
  // closed and the next connection goes to the new one.
  std::vector<RedisEndpoint> sentinels;
  std::string sentinel_master;
  // How often a request asks the sentinels again (at most once per interval,
  // per pool): a primary replaced while it stays up (a manual failover, a
  // partition) is left before Sentinel gets to reconfigure it.
  absl::Duration sentinel_recheck = absl::Seconds(1);
  // Told of each primary a pool starts using (its first, and each one the
  // Sentinels name after a failover), outside the pool's locks. Every pool
  // made from these options calls it: the callee deduplicates.
  std::function<void(const RedisEndpoint& primary)> on_primary;
  // TLS to Redis, and to the sentinels: the client context for each new
  // connection (the trust anchors for the server's chain, a client
  // certificate when the server asks for one); null: plain TCP. Called for
  // every connection opened, so a context reloaded after its files changed
  // reaches the next one. The server's certificate must be for
  // `tls_server_name`, or when that is empty for the host connected to
  // (a DNS name, or an IP subjectAltName for an address: Sentinel names
  // the primary by address unless its replicas announce hostnames).
  std::function<std::shared_ptr<SSL_CTX>()> tls;
  std::string tls_server_name;
  // Secret. AUTH to the sentinels (their own `requirepass`) when non-empty;
  // never logged nor put in a Status message.
  std::string sentinel_password;
  // ACL user on the sentinels (Redis 6.2+ Sentinel, a `user` line in
  // sentinel.conf): AUTH `sentinel_username` `sentinel_password`. Empty: the
  // default user. Needs a sentinel password.
  std::string sentinel_username;
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

// "host:port,host,[v6]:port" (a port left out is `default_port`);
// InvalidArgument naming the item that is not one.
absl::StatusOr<std::vector<RedisEndpoint>> ParseRedisEndpoints(absl::string_view list,
                                                               int default_port);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_OPTIONS_H_
