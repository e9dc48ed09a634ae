#ifndef SCEP_COMMON_REDIS_REDIS_REQUEST_STORE_H_
#define SCEP_COMMON_REDIS_REDIS_REQUEST_STORE_H_

#include <memory>

#include "common/redis/enrollment_scripts.h"
#include "common/redis/redis_options.h"
#include "common/redis/request_store.h"

namespace scep::redis {

class RedisConnectionPool;

// RequestStore on Redis (keys in request_keys.h): one hash per request
// with the request's TTL, plus creation-time indexes per profile and over
// all profiles for listing. Create and Transition are Lua scripts, so a
// transition is a compare-and-set across gateway pods. Any Redis failure
// is Unavailable. New() connects lazily. Thread-safe.
class RedisRequestStore final : public RequestStore {
 public:
  // FailedPrecondition for unusable options.
  static absl::StatusOr<std::unique_ptr<RedisRequestStore>> New(RedisOptions options);
  ~RedisRequestStore() override;

  absl::Status Create(const ApprovalRequest& request, absl::Duration ttl) override;
  absl::StatusOr<std::optional<ApprovalRequest>> Get(
      absl::string_view profile, absl::string_view transaction_id) override;
  absl::Status Transition(absl::string_view profile,
                          absl::string_view transaction_id,
                          ApprovalRequest::Status from,
                          ApprovalRequest::Status to, absl::string_view actor,
                          absl::string_view serial_hex) override;
  absl::StatusOr<RequestPage> List(absl::string_view profile,
                                   std::optional<ApprovalRequest::Status> status,
                                   absl::string_view page_token,
                                   int page_size) override;

 private:
  explicit RedisRequestStore(std::unique_ptr<RedisConnectionPool> pool);
  const std::unique_ptr<RedisConnectionPool> pool_;
};

// ChallengeStore on Redis: SET PX under the challenge's hash; a claim is a
// second key beside it, written by a Lua script only while the challenge
// is unclaimed, so one transaction ever holds it across gateway pods.
class RedisChallengeStore final : public ChallengeStore {
 public:
  static absl::StatusOr<std::unique_ptr<RedisChallengeStore>> New(RedisOptions options);
  ~RedisChallengeStore() override;

  absl::Status Create(absl::string_view profile, absl::string_view challenge,
                      absl::string_view subject, absl::Duration ttl) override;
  absl::StatusOr<std::optional<std::string>> Claim(
      absl::string_view profile, absl::string_view challenge,
      absl::string_view transaction_id, absl::string_view fingerprint) override;
  absl::Status Spend(absl::string_view profile, absl::string_view challenge,
                     absl::string_view transaction_id,
                     absl::string_view fingerprint) override;

 private:
  explicit RedisChallengeStore(std::unique_ptr<RedisConnectionPool> pool);
  const std::unique_ptr<RedisConnectionPool> pool_;
  const LuaScript claim_;  // sent by digest (EVALSHA)
  const LuaScript spend_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_REQUEST_STORE_H_
