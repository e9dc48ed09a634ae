#ifndef SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_INTERNAL_H_
#define SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_INTERNAL_H_

// What redis_enrollment_store.cc (nonces, claims, completions) and
// redis_enrollment_store_parked.cc (parked claims, reads) share. Not for
// other callers.

#include <openssl/rand.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_write_journal.h"

namespace scep::redis::enrollment_store_internal {

// One-key forms of EvalScript / EvalScriptOrJournal.
inline absl::StatusOr<RedisReplyPtr> Eval(RedisConnectionPool& pool, absl::string_view operation,
                                          const LuaScript& script, absl::string_view key,
                                          std::vector<absl::string_view> args) {
  return EvalScript(pool, operation, script, {key}, args);
}

inline absl::StatusOr<RedisReplyPtr> EvalOrJournal(RedisConnectionPool& pool,
                                                   RedisWriteJournal& journal,
                                                   absl::string_view operation,
                                                   const LuaScript& script,
                                                   absl::string_view key,
                                                   std::vector<absl::string_view> args) {
  return EvalScriptOrJournal(pool, journal, operation, script, {key}, args);
}

// A random claim token, so that exactly one claim can be undone.
inline absl::StatusOr<std::string> ClaimToken(absl::string_view op) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError(absl::StrCat(op, ": no randomness for the claim token"));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace scep::redis::enrollment_store_internal

#endif  // SCEP_COMMON_REDIS_REDIS_ENROLLMENT_STORE_INTERNAL_H_
