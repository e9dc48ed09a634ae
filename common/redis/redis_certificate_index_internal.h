#ifndef SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_INTERNAL_H_
#define SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_INTERNAL_H_

// What redis_certificate_index.cc (certificates, revocations) and
// redis_certificate_index_crl.cc (the CRL's state, cache and restore)
// share. Not for other callers.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_connection_pool.h"

namespace scep::redis::certificate_index_internal {

inline constexpr char kRevokedKey[] = "scep:revoked";
inline constexpr char kGenerationKey[] = "scep:crl:gen";
inline constexpr char kNumberKey[] = "scep:crl:number";

// "scep:cert:{serial}"; InvalidArgument for a malformed serial.
absl::StatusOr<std::string> CertKey(absl::string_view serial_hex);

// The reply word of one command. With Ack::kReplicas (a write whose loss an
// admin would notice, a revocation) and RedisOptions::wait_replicas, it
// comes once replicas have the write.
absl::StatusOr<std::string> Word(
    RedisConnectionPool& pool, absl::string_view op, std::vector<absl::string_view> argv,
    RedisConnectionPool::Ack ack = RedisConnectionPool::Ack::kPrimary);

// An integer reply (or a number in a string; nil is 0).
absl::StatusOr<int64_t> Integer(RedisConnectionPool& pool, absl::string_view op,
                                std::vector<absl::string_view> argv);

// GetCrlState's script (run by EVALSHA, one per CRL request).
LuaScript CrlStateScript();

}  // namespace scep::redis::certificate_index_internal

#endif  // SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_INTERNAL_H_
