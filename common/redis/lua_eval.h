#ifndef SCEP_COMMON_REDIS_LUA_EVAL_H_
#define SCEP_COMMON_REDIS_LUA_EVAL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis/enrollment_scripts.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_write_journal.h"

namespace scep::redis {

// Runs `script` with `keys` and `args`: EVALSHA first (the script body is
// not resent on every call), EVAL when the server does not have the script
// cached (fresh or restarted server, SCRIPT FLUSH); EVAL caches it again
// for the next caller.
absl::StatusOr<RedisReplyPtr> EvalScript(RedisConnectionPool& pool,
                                         absl::string_view operation,
                                         const LuaScript& script,
                                         const std::vector<absl::string_view>& keys,
                                         const std::vector<absl::string_view>& args,
                                         RedisConnectionPool::Ack ack =
                                             RedisConnectionPool::Ack::kPrimary);

// Like EvalScript(), for a write that must not be lost: when Redis cannot be
// reached it is journalled (RedisWriteJournal), in the EVAL form since a
// restarted server has no script cached. While the journal holds writes,
// new ones queue behind them so that Redis sees them in order. (No WAIT: a
// write that asks for replicas is not journalled, see
// RedisEnrollmentStore::CompleteIndexedTransaction.)
absl::StatusOr<RedisReplyPtr> EvalScriptOrJournal(
    RedisConnectionPool& pool, RedisWriteJournal& journal, absl::string_view operation,
    const LuaScript& script, const std::vector<absl::string_view>& keys,
    const std::vector<absl::string_view>& args);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_LUA_EVAL_H_
