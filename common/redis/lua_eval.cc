#include "common/redis/lua_eval.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

namespace scep::redis {
namespace {

std::vector<absl::string_view> Command(absl::string_view verb, absl::string_view script,
                                       const std::string& key_count,
                                       const std::vector<absl::string_view>& keys,
                                       const std::vector<absl::string_view>& args) {
  std::vector<absl::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back(verb);
  argv.push_back(script);
  argv.push_back(key_count);
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

absl::StatusOr<RedisReplyPtr> EvalScript(RedisConnectionPool& pool,
                                         absl::string_view operation,
                                         const LuaScript& script,
                                         const std::vector<absl::string_view>& keys,
                                         const std::vector<absl::string_view>& args,
                                         RedisConnectionPool::Ack ack) {
  const std::string key_count = absl::StrCat(keys.size());
  if (!script.sha1.empty()) {
    ASSIGN_OR_RETURN(RedisReplyPtr reply,
                     pool.Run(operation, Command("EVALSHA", script.sha1, key_count, keys, args),
                              ack));
    if (reply->type != REDIS_REPLY_ERROR ||
        !absl::StartsWith(absl::string_view(reply->str, reply->len), "NOSCRIPT")) {
      return reply;
    }
  }
  return pool.Run(operation, Command("EVAL", script.source, key_count, keys, args), ack);
}

absl::StatusOr<RedisReplyPtr> EvalScriptOrJournal(
    RedisConnectionPool& pool, RedisWriteJournal& journal, absl::string_view operation,
    const LuaScript& script, const std::vector<absl::string_view>& keys,
    const std::vector<absl::string_view>& args) {
  if (journal.size() == 0) {
    absl::StatusOr<RedisReplyPtr> reply = EvalScript(pool, operation, script, keys, args);
    if (reply.ok() || !absl::IsUnavailable(reply.status())) return reply;
  }
  const std::string key_count = absl::StrCat(keys.size());
  return journal.RunOrJournal(operation,
                              Command("EVAL", script.source, key_count, keys, args));
}

}  // namespace scep::redis
