#include "common/redis/redis_reply.h"

#include "absl/strings/str_cat.h"

namespace scep::redis {

absl::Status UnexpectedReply(absl::string_view operation, const redisReply& reply) {
  return absl::UnavailableError(absl::StrCat(
      "Redis ", operation, ": ",
      reply.type == REDIS_REPLY_ERROR ? ReplyText(reply) : "unexpected reply"));
}

absl::StatusOr<std::string> ReplyWord(absl::string_view operation,
                                      const redisReply& reply) {
  if (reply.type != REDIS_REPLY_STRING && reply.type != REDIS_REPLY_STATUS) {
    return UnexpectedReply(operation, reply);
  }
  return std::string(ReplyText(reply));
}

}  // namespace scep::redis
