#ifndef SCEP_COMMON_REDIS_REDIS_CONNECTION_H_
#define SCEP_COMMON_REDIS_REDIS_CONNECTION_H_

// Internal to RedisConnectionPool: one synchronous connection to a Redis
// server or Sentinel, over plain TCP (hiredis does the I/O) or over TLS
// (hiredis 0.14 has no TLS: hiredis connects and encodes, OpenSSL carries
// the bytes, hiredis's reader parses the replies).

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_options.h"

namespace scep::redis::internal {

struct ConnectionSettings {
  absl::Duration connect_timeout;  // the TCP connect, and each step of a TLS handshake
  absl::Duration command_timeout;  // each send and each read of a reply
  std::shared_ptr<SSL_CTX> tls;    // null: plain TCP
  // The name the server's certificate must carry; "" = the host connected to.
  std::string tls_server_name;
  bool sigpipe_ignored = false;    // else SIGPIPE is blocked around each command
};

class RedisConnection {
 public:
  // Connects (and with TLS, completes the handshake, the server's chain
  // and name verified). Unavailable naming the endpoint and why.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(
      const RedisEndpoint& endpoint, const ConnectionSettings& settings,
      absl::string_view operation);

  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // One command and its reply (binary-safe arguments). Unavailable on a
  // transport failure ("Redis <operation>: <why>"), after which the
  // connection is unusable.
  absl::StatusOr<RedisReplyPtr> Command(absl::string_view operation,
                                        absl::Span<const absl::string_view> argv);

  // False when the server closed the connection while it sat idle, or sent
  // something unasked (a TLS record included): the next command would fail.
  bool StillOpen() const;

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  RedisConnection(redisContext* context, RedisEndpoint endpoint, bool sigpipe_ignored)
      : context_(context), endpoint_(std::move(endpoint)), sigpipe_ignored_(sigpipe_ignored) {}
  absl::Status Handshake(const ConnectionSettings& settings, absl::string_view operation);
  absl::StatusOr<RedisReplyPtr> TlsCommand(absl::string_view operation,
                                           absl::Span<const absl::string_view> argv);
  // Why the last TLS call, which returned `result`, failed.
  absl::Status TlsError(absl::string_view operation, int result);
  // " (the server asked for a client certificate ...)" when it did and
  // this connection has none to show; "" otherwise. A server that requires
  // one refuses after the handshake, and its alert may be lost to the
  // reset that follows: this says why either way.
  std::string MissingCertificate() const;

  redisContext* const context_;
  const RedisEndpoint endpoint_;
  const bool sigpipe_ignored_;
  SSL* ssl_ = nullptr;              // with TLS
  redisReader* reader_ = nullptr;   // with TLS
  bool broken_ = false;             // a TLS call failed: unusable
  bool certificate_requested_ = false;  // the server asked for a client certificate
};

}  // namespace scep::redis::internal

#endif  // SCEP_COMMON_REDIS_REDIS_CONNECTION_H_
