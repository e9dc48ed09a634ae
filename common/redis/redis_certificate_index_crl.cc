// The CRL's records in Redis: the revocation generation and cached CRL
// each CRL request reads, the cRLNumber counter, the cached CRL, and the
// restore of revocations Redis lost (see redis_certificate_index.h).

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_certificate_index_internal.h"
#include "common/redis/redis_reply.h"

namespace scep::redis {
namespace certificate_index_internal {

// KEYS: generation, CRL cache. The revocation generation and the cached
// CRL's number (0 when none).
constexpr char kCrlStateScript[] = R"lua(
return {tonumber(redis.call('GET', KEYS[1]) or '0') or 0,
        tonumber(redis.call('HGET', KEYS[2], 'number') or '0') or 0})lua";

LuaScript CrlStateScript() { return MakeLuaScript(kCrlStateScript); }

}  // namespace certificate_index_internal

namespace {

using certificate_index_internal::CertKey;
using certificate_index_internal::Integer;
using certificate_index_internal::kGenerationKey;
using certificate_index_internal::kNumberKey;
using certificate_index_internal::kRevokedKey;
using certificate_index_internal::Word;

// The next cRLNumber, above the cached CRL's too: a counter lost (deleted,
// restored from an older backup, a failover that lost the INCR) must not
// number CRLs below those already served, nor leave every CRL signed
// after it uncacheable (kPutCrlScript keeps the higher number).
constexpr char kNextCrlNumberScript[] = R"lua(
local n = redis.call('INCR', KEYS[1])
local cached = tonumber(redis.call('HGET', KEYS[2], 'number'))
if cached and n <= cached then
  n = cached + 1
  redis.call('SET', KEYS[1], n)
end
return n)lua";

// KEYS: revoked set, generation, cRLNumber counter, then the certificate
// key of each entry. ARGV: CA name, cRLNumber, then serial, unix time,
// reason per entry. Records the entries the revoked set lacks (notAfter
// unknown), marks their certificates revoked where present; the
// generation moves on when it did or the counter had to move (so the
// cached CRL, older, is signed anew).
constexpr char kRestoreScript[] = R"lua(
local restored = 0
for i = 4, #KEYS do
  local a = 3 + (i - 4) * 3
  if redis.call('HEXISTS', KEYS[1], ARGV[a]) == 0 then
    local entry = ARGV[a + 1] .. ':' .. ARGV[a + 2]
    if ARGV[1] ~= '' then entry = entry .. ':' .. ARGV[1] end
    redis.call('HSET', KEYS[1], ARGV[a], entry)
    if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('HGET', KEYS[i], 'revoked') ~= '1' then
      redis.call('HSET', KEYS[i], 'revoked', '1', 'reason', ARGV[a + 2],
                 'revoked_at', ARGV[a + 1])
    end
    restored = restored + 1
  end
end
local moved = false
if (tonumber(redis.call('GET', KEYS[3]) or '0') or 0) < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[3], ARGV[2])
  moved = true
end
if restored > 0 or moved then redis.call('INCR', KEYS[2]) end
return restored)lua";

// Caches a CRL unless the cached one has the same or a higher cRLNumber
// (one cached by an older gateway, without 'number', is replaced).
constexpr char kPutCrlScript[] = R"lua(
local number = tonumber(redis.call('HGET', KEYS[1], 'number'))
if number and number >= tonumber(ARGV[5]) then return 'older' end
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'der', ARGV[2], 'next_update', ARGV[3],
           'this_update', ARGV[4], 'number', ARGV[5])
return 'ok')lua";

}  // namespace

absl::StatusOr<int64_t> RedisCertificateIndex::RestoreRevoked(
    const std::vector<RevokedSerial>& entries, uint64_t crl_number) {
  constexpr absl::string_view kOp = "RestoreRevoked";
  constexpr size_t kBatch = 1000;  // bounds each script (and Redis's time in it)
  const std::string number = absl::StrCat(crl_number);
  int64_t restored = 0;
  size_t i = 0;
  do {  // once even without entries: the counter moves on
    const size_t end = std::min(entries.size(), i + kBatch);
    std::vector<std::string> owned;  // cert keys, times, reasons
    owned.reserve(3 * (end - i));
    for (size_t j = i; j < end; ++j) {
      ASSIGN_OR_RETURN(std::string key, CertKey(entries[j].serial_hex));
      owned.push_back(std::move(key));
      owned.push_back(absl::StrCat(absl::ToUnixSeconds(entries[j].revoked_at)));
      owned.push_back(absl::StrCat(entries[j].reason));
    }
    const std::string nkeys = absl::StrCat(3 + (end - i));
    std::vector<absl::string_view> argv = {"EVAL", kRestoreScript, nkeys, kRevokedKey,
                                           kGenerationKey, kNumberKey};
    for (size_t j = 0; j < end - i; ++j) argv.push_back(owned[3 * j]);
    argv.push_back(issuing_ca_);
    argv.push_back(number);
    for (size_t j = 0; j < end - i; ++j) {
      argv.push_back(entries[i + j].serial_hex);
      argv.push_back(owned[3 * j + 1]);
      argv.push_back(owned[3 * j + 2]);
    }
    ASSIGN_OR_RETURN(RedisReplyPtr reply,
                     pool_->Run(kOp, argv, RedisConnectionPool::Ack::kReplicas));
    if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
    restored += reply->integer;
    i = end;
  } while (i < entries.size());
  return restored;
}

absl::StatusOr<int64_t> RedisCertificateIndex::RevocationGeneration() {
  return Integer(*pool_, "RevocationGeneration", {"GET", kGenerationKey});
}

absl::StatusOr<CrlState> RedisCertificateIndex::GetCrlState() {
  constexpr absl::string_view kOp = "GetCrlState";
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   EvalScript(*pool_, kOp, crl_state_, {kGenerationKey, crl_cache_key_}, {}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[0]->type != REDIS_REPLY_INTEGER ||
      reply->element[1]->type != REDIS_REPLY_INTEGER) {
    return UnexpectedReply(kOp, *reply);
  }
  return CrlState{reply->element[0]->integer,
                  static_cast<uint64_t>(reply->element[1]->integer)};
}

absl::StatusOr<uint64_t> RedisCertificateIndex::NextCrlNumber() {
  ASSIGN_OR_RETURN(int64_t n, Integer(*pool_, "NextCrlNumber",
                                      {"EVAL", kNextCrlNumberScript, "2", kNumberKey,
                                       crl_cache_key_}));
  return static_cast<uint64_t>(n);
}

absl::StatusOr<std::optional<CachedCrl>> RedisCertificateIndex::GetCachedCrl() {
  constexpr absl::string_view kOp = "GetCachedCrl";
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"HMGET", crl_cache_key_, "gen", "der", "next_update",
                                    "this_update", "number"}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
    return UnexpectedReply(kOp, *reply);
  }
  for (size_t i = 0; i < 3; ++i) {
    if (reply->element[i]->type != REDIS_REPLY_STRING) return std::nullopt;
  }
  CachedCrl crl;
  int64_t next = 0;
  if (!absl::SimpleAtoi(ReplyText(*reply->element[0]), &crl.generation) ||
      !absl::SimpleAtoi(ReplyText(*reply->element[2]), &next)) {
    return std::nullopt;  // unreadable cache: sign a new CRL
  }
  crl.der = std::string(ReplyText(*reply->element[1]));
  crl.next_update = absl::FromUnixSeconds(next);
  int64_t this_update = 0;
  if (reply->element[3]->type == REDIS_REPLY_STRING &&
      absl::SimpleAtoi(ReplyText(*reply->element[3]), &this_update)) {
    crl.this_update = absl::FromUnixSeconds(this_update);  // absent before session 16
  }
  if (reply->element[4]->type == REDIS_REPLY_STRING &&
      !absl::SimpleAtoi(ReplyText(*reply->element[4]), &crl.number)) {
    crl.number = 0;  // absent before session 17
  }
  return crl;
}

absl::StatusOr<bool> RedisCertificateIndex::PutCachedCrl(const CachedCrl& crl) {
  constexpr absl::string_view kOp = "PutCachedCrl";
  const std::string gen = absl::StrCat(crl.generation);
  const std::string next = absl::StrCat(absl::ToUnixSeconds(crl.next_update));
  const std::string this_update = absl::StrCat(absl::ToUnixSeconds(crl.this_update));
  const std::string number = absl::StrCat(crl.number);
  ASSIGN_OR_RETURN(std::string word,
                   Word(*pool_, kOp,
                        {"EVAL", kPutCrlScript, "1", crl_cache_key_, gen, crl.der, next,
                         this_update, number}));
  if (word == "ok") return true;
  if (word == "older") return false;
  return absl::InternalError(absl::StrCat(kOp, ": unexpected reply ", word));
}

}  // namespace scep::redis
