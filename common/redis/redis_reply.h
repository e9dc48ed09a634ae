#ifndef SCEP_COMMON_REDIS_REDIS_REPLY_H_
#define SCEP_COMMON_REDIS_REDIS_REPLY_H_

// Reading hiredis replies, for the Redis-backed stores.

#include <hiredis/hiredis.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::redis {

// The bytes of a string, status or error reply.
inline absl::string_view ReplyText(const redisReply& reply) {
  return absl::string_view(reply.str, reply.len);
}

// Unavailable for a reply of the wrong shape, naming `operation`; an error
// reply carries its text.
absl::Status UnexpectedReply(absl::string_view operation, const redisReply& reply);

// The one-word answer of a script or command (a string or status reply);
// UnexpectedReply otherwise.
absl::StatusOr<std::string> ReplyWord(absl::string_view operation, const redisReply& reply);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_REPLY_H_
