#ifndef SCEP_COMMON_REDIS_REDIS_CONNECTION_INTERNAL_H_
#define SCEP_COMMON_REDIS_REDIS_CONNECTION_INTERNAL_H_

// Internal to RedisConnectionPool (redis_connection_pool.cc and
// redis_connection_pool_sentinel.cc): one command on a connection.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/redis/redis_connection.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis::internal {

// One command on `context`. Unavailable on transport failure, after which
// the context is unusable.
inline absl::StatusOr<RedisReplyPtr> Send(RedisConnection* context,
                                          absl::string_view operation,
                                          absl::Span<const absl::string_view> argv) {
  return context->Command(operation, argv);
}

// Sends a connection set-up command; an error reply is Unavailable too.
// `what` names the command in messages; the arguments never appear there,
// and `secret` (when non-empty) is masked should the server ever echo it.
// `refused` is set when the server answered with an error reply.
absl::Status SetUp(RedisConnection* context, absl::string_view operation,
                   absl::string_view what, absl::Span<const absl::string_view> argv,
                   bool* refused, absl::string_view secret = {});

// False when the server closed the connection while it sat idle (or it
// holds unexpected bytes): reusing it would fail the caller's command.
inline bool StillOpen(const RedisConnection* context) { return context->StillOpen(); }

}  // namespace scep::redis::internal

#endif  // SCEP_COMMON_REDIS_REDIS_CONNECTION_INTERNAL_H_
