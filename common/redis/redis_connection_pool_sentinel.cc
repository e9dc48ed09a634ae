// RedisConnectionPool's side of Redis Sentinel (RedisOptions::sentinels):
// where the primary is, whether a server is it, and following a failover.

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_connection_internal.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis {

using internal::Send;
using internal::SetUp;
using internal::StillOpen;

bool RedisConnectionPool::AtPrimary(const internal::RedisConnection& context) const {
  if (options_.sentinels.empty()) return true;
  return context.endpoint().port == primary_.port && context.endpoint().host == primary_.host;
}

void RedisConnectionPool::Adopt(const RedisEndpoint& primary) {
  std::vector<ContextPtr> stale;  // closed after the lock is released
  {
    absl::MutexLock lock(&mu_);
    if (primary.host == primary_.host && primary.port == primary_.port) return;
    primary_ = primary;
    for (ContextPtr& context : idle_) {
      if (!AtPrimary(*context)) stale.push_back(std::move(context));
    }
    std::erase(idle_, nullptr);
  }
  if (options_.on_primary != nullptr) options_.on_primary(primary);
}

void RedisConnectionPool::Recheck(absl::string_view operation) {
  if (options_.sentinels.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now < recheck_at_) return;
    recheck_at_ = now + options_.sentinel_recheck;
  }
  absl::StatusOr<RedisEndpoint> primary = FindPrimary(operation);
  // No answer: the connections stay where they are (the command will tell).
  if (primary.ok()) Adopt(*primary);
}

absl::StatusOr<RedisEndpoint> RedisConnectionPool::AskSentinel(size_t index,
                                                               absl::string_view operation) {
  ContextPtr context;
  {
    absl::MutexLock lock(&mu_);
    if (sentinel_context_ != nullptr && sentinel_context_index_ == index) {
      context = std::move(sentinel_context_);
    }
  }
  if (context != nullptr && !StillOpen(context.get())) context.reset();
  if (context == nullptr) {
    ASSIGN_OR_RETURN(context, Open(options_.sentinels[index], operation));
    bool refused = false;
    if (!options_.sentinel_username.empty()) {
      RETURN_IF_ERROR(SetUp(context.get(), operation,
                            absl::StrCat("AUTH to Sentinel as user ", options_.sentinel_username),
                            {"AUTH", options_.sentinel_username, options_.sentinel_password},
                            &refused, options_.sentinel_password));
    } else if (!options_.sentinel_password.empty()) {
      RETURN_IF_ERROR(SetUp(context.get(), operation, "AUTH to Sentinel",
                            {"AUTH", options_.sentinel_password},
                            &refused, options_.sentinel_password));
    }
  }
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   Send(context.get(), operation,
                        {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.sentinel_master}));
  if (reply->type == REDIS_REPLY_NIL) {
    return absl::UnavailableError(
        absl::StrCat("does not monitor '", options_.sentinel_master, "'"));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(absl::string_view(reply->str, reply->len));
  }
  RedisEndpoint primary;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[1]->type != REDIS_REPLY_STRING ||
      !absl::SimpleAtoi(absl::string_view(reply->element[1]->str, reply->element[1]->len),
                        &primary.port) ||
      primary.port < 1 || primary.port > 65535 || reply->element[0]->len == 0) {
    return absl::UnavailableError("answered with no host and port");
  }
  primary.host.assign(reply->element[0]->str, reply->element[0]->len);
  ContextPtr replaced;  // closed after the lock is released
  {
    absl::MutexLock lock(&mu_);
    replaced = std::exchange(sentinel_context_, std::move(context));
    sentinel_context_index_ = index;
  }
  return primary;
}

absl::StatusOr<RedisEndpoint> RedisConnectionPool::FindPrimary(
    absl::string_view operation) {
  const size_t count = options_.sentinels.size();
  const size_t first = sentinel_first_.load(std::memory_order_relaxed) % count;
  std::vector<std::string> why;
  for (size_t i = 0; i < count; ++i) {
    const size_t at = (first + i) % count;
    const RedisEndpoint& sentinel = options_.sentinels[at];
    absl::StatusOr<RedisEndpoint> primary = AskSentinel(at, operation);
    if (primary.ok()) {
      sentinel_first_.store(at, std::memory_order_relaxed);
      return primary;
    }
    // AskSentinel's transport errors start with "Redis <operation>: ".
    absl::string_view message = primary.status().message();
    absl::ConsumePrefix(&message, absl::StrCat("Redis ", operation, ": "));
    why.push_back(absl::StrCat(sentinel.host, ":", sentinel.port, ": ", message));
  }
  return absl::UnavailableError(
      absl::StrCat("Redis ", operation, ": no Sentinel named the primary '",
                   options_.sentinel_master, "' (", absl::StrJoin(why, "; "), ")"));
}

absl::Status RedisConnectionPool::CheckPrimary(internal::RedisConnection* context,
                                               const RedisEndpoint& primary,
                                               absl::string_view operation,
                                               bool* refused) const {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Send(context, operation, {"ROLE"}));
  if (reply->type == REDIS_REPLY_ERROR) {
    *refused = true;
    return absl::UnavailableError(absl::StrCat(
        "Redis ", operation, ": ROLE refused (the Redis user needs +role): ",
        absl::string_view(reply->str, reply->len)));
  }
  absl::string_view role;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
      reply->element[0]->type == REDIS_REPLY_STRING) {
    role = absl::string_view(reply->element[0]->str, reply->element[0]->len);
  }
  if (role == "master") return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "Redis ", operation, ": ", primary.host, ":", primary.port,
      ", which Sentinel named the primary '", options_.sentinel_master, "', is ",
      role == "slave" ? "a replica" : "not a primary", " (a failover under way?)"));
}

}  // namespace scep::redis
