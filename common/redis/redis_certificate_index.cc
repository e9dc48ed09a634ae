#include "common/redis/redis_certificate_index.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/redis/lua_eval.h"
#include "common/redis/redis_certificate_index_internal.h"
#include "common/redis/redis_index_page.h"
#include "common/redis/redis_reply.h"
#include "common/redis/request_keys.h"
#include "common/redis/store_keys.h"

namespace scep::redis {
namespace certificate_index_internal {

absl::StatusOr<std::string> CertKey(absl::string_view serial_hex) {
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  return absl::StrCat("scep:cert:", serial_hex);
}

absl::StatusOr<std::string> Word(
    RedisConnectionPool& pool, absl::string_view op, std::vector<absl::string_view> argv,
    RedisConnectionPool::Ack ack) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, pool.Run(op, argv, ack));
  return ReplyWord(op, *reply);
}

absl::StatusOr<int64_t> Integer(RedisConnectionPool& pool, absl::string_view op,
                                std::vector<absl::string_view> argv) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, pool.Run(op, argv));
  int64_t value = 0;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer;
  if (reply->type == REDIS_REPLY_NIL) return 0;
  if (reply->type == REDIS_REPLY_STRING && absl::SimpleAtoi(ReplyText(*reply), &value)) {
    return value;
  }
  return UnexpectedReply(op, *reply);
}

}  // namespace certificate_index_internal

namespace {

using certificate_index_internal::CertKey;
using certificate_index_internal::Integer;
using certificate_index_internal::kGenerationKey;
using certificate_index_internal::kRevokedKey;
using certificate_index_internal::Word;

// Never overwrites a revoked record (a late retransmission must not
// un-revoke a certificate), and writes a certificate whose serial the
// revocation list (KEYS[2]) has as revoked, with the list's date and
// reason: a certificate recorded again after Redis lost it (renewal
// re-index, restore) while its revocation was restored meanwhile must not
// read as valid. Such an entry without the certificate's notAfter (one
// restored from a CRL) is answered 'listed:<entry>' so the caller can add
// it. KEYS[3..]: pairs of a listing index (scep:certs,
// scep:certs:{profile}), scored by first-recorded time (ARGV[4], ms), and
// its expiry index (scep:certs-expiry[:{profile}]), scored by when the
// certificate's record expires (Redis's clock). Members whose record
// expired (a second ago: a key lives through the millisecond it expires
// in) are dropped from the listing, up to 64 per Put by the expiry
// index (the listing's head alone was not enough: one long-lived
// certificate there kept every shorter-lived one after it, from every
// profile, for years) and at the listing's head (members recorded before
// the expiry index existed). Each index lives as long as its longest-lived
// certificate.
constexpr char kPutScript[] = R"lua(
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return 'revoked' end
local listed = redis.call('HGET', KEYS[2], ARGV[5])
local answer = 'ok'
if listed then
  local at, reason, rest = string.match(listed, '^(%d+):(%-?%d+)(.*)$')
  redis.call('HSET', KEYS[1], 'der', ARGV[1], 'profile', ARGV[2], 'revoked', '1',
             'reason', reason, 'revoked_at', at, 'ca', ARGV[6])
  if not string.match(rest, '^:[^:]*:%d+$') then answer = 'listed:' .. listed end
else
  redis.call('HSET', KEYS[1], 'der', ARGV[1], 'profile', ARGV[2], 'revoked', '0',
             'ca', ARGV[6])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 3, #KEYS, 2 do
  local listing, expiry = KEYS[i], KEYS[i + 1]
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now - 1000, 'LIMIT', 0, 64)) do
    if redis.call('EXISTS', 'scep:cert:' .. m) == 0 then redis.call('ZREM', listing, m) end
    redis.call('ZREM', expiry, m)
  end
  for _, m in ipairs(redis.call('ZRANGE', listing, 0, 15)) do
    if redis.call('EXISTS', 'scep:cert:' .. m) == 1 then break end
    redis.call('ZREM', listing, m)
  end
  redis.call('ZADD', listing, 'NX', ARGV[4], ARGV[5])
  redis.call('ZADD', expiry, string.format('%.0f', now + ARGV[3]), ARGV[5])
  for _, key in ipairs({listing, expiry}) do
    if redis.call('PTTL', key) < tonumber(ARGV[3]) then redis.call('PEXPIRE', key, ARGV[3]) end
  end
end
return answer)lua";

// KEYS: revoked set. ARGV: serial, the entry as Put found it, the entry
// with the certificate's notAfter. Replaces it unless it changed since.
constexpr char kAddNotAfterScript[] = R"lua(
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1)lua";

constexpr char kCertPrefix[] = "scep:cert:";
constexpr char kAllCertsKey[] = "scep:certs";
constexpr char kAllExpiryKey[] = "scep:certs-expiry";

std::string ProfileCertsKey(absl::string_view profile) {
  return absl::StrCat(kAllCertsKey, ":", profile);
}

std::string ProfileExpiryKey(absl::string_view profile) {
  return absl::StrCat(kAllExpiryKey, ":", profile);
}

// KEYS: cert, revoked set, generation. ARGV: serial, reason, unix time,
// the certificate's notAfter (unix seconds; "" unknown), the keyCompromise
// reason. A revoked-set entry is "time:reason[:ca[:not_after]]" (ca "" for
// the default CA). Answers "missing", "ok", or for a certificate revoked
// before "already:reason:time", or "changed:reason:time" when keyCompromise
// replaced its reason (in its record and in its revoked-set entry, if the
// list still has it).
constexpr char kRevokeScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then
  local reason = redis.call('HGET', KEYS[1], 'reason') or ''
  local at = redis.call('HGET', KEYS[1], 'revoked_at') or ''
  if ARGV[2] ~= ARGV[5] or reason == ARGV[5] then
    return 'already:' .. reason .. ':' .. at
  end
  redis.call('HSET', KEYS[1], 'reason', ARGV[2])
  local listed = redis.call('HGET', KEYS[2], ARGV[1])
  if listed then
    local time, rest = string.match(listed, '^([^:]*):[^:]*(.*)$')
    if time then redis.call('HSET', KEYS[2], ARGV[1], time .. ':' .. ARGV[2] .. rest) end
  end
  redis.call('INCR', KEYS[3])
  return 'changed:' .. ARGV[2] .. ':' .. at
end
redis.call('HSET', KEYS[1], 'revoked', '1', 'reason', ARGV[2], 'revoked_at', ARGV[3])
local ca = redis.call('HGET', KEYS[1], 'ca') or ''
local entry = ARGV[3] .. ':' .. ARGV[2]
if ca ~= '' or ARGV[4] ~= '' then entry = entry .. ':' .. ca end
if ARGV[4] ~= '' then entry = entry .. ':' .. ARGV[4] end
redis.call('HSET', KEYS[2], ARGV[1], entry)
redis.call('INCR', KEYS[3])
return 'ok')lua";

// A revoked-set entry, "unix_seconds:reason[:ca[:not_after]]" (see
// kRevokeScript), for `serial_hex`; `ca` is set to its CA's name.
absl::StatusOr<RevokedSerial> ParseRevokedEntry(absl::string_view serial_hex,
                                                absl::string_view text,
                                                absl::string_view& ca) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  int64_t at = 0;
  int64_t not_after = 0;
  RevokedSerial entry;
  if (parts.size() < 2 || parts.size() > 4 || !absl::SimpleAtoi(parts[0], &at) ||
      !absl::SimpleAtoi(parts[1], &entry.reason) ||
      (parts.size() == 4 && !absl::SimpleAtoi(parts[3], &not_after))) {
    return absl::DataLossError("malformed revocation entry in Redis");
  }
  ca = parts.size() >= 3 ? parts[2] : absl::string_view();
  entry.serial_hex = std::string(serial_hex);
  entry.revoked_at = absl::FromUnixSeconds(at);
  if (parts.size() == 4) entry.not_after = absl::FromUnixSeconds(not_after);
  return entry;
}

}  // namespace

RedisCertificateIndex::RedisCertificateIndex(std::unique_ptr<RedisConnectionPool> pool,
                                             std::string issuing_ca,
                                             const std::string& crl_key_id)
    : pool_(std::move(pool)),
      journal_(pool_.get()),
      issuing_ca_(std::move(issuing_ca)),
      crl_cache_key_((issuing_ca_.empty() ? "scep:crl:cache" : "scep:crl:cache:" + issuing_ca_) +
                     (crl_key_id.empty() ? "" : ":key:" + crl_key_id)),
      put_(MakeLuaScript(kPutScript)),
      crl_state_(certificate_index_internal::CrlStateScript()) {}

absl::StatusOr<std::unique_ptr<RedisCertificateIndex>> RedisCertificateIndex::New(
    RedisOptions options, std::string issuing_ca, const std::string& crl_key_id) {
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnectionPool> pool,
                   RedisConnectionPool::New(std::move(options)));
  return std::unique_ptr<RedisCertificateIndex>(
      new RedisCertificateIndex(std::move(pool), std::move(issuing_ca), crl_key_id));
}

absl::Status RedisCertificateIndex::Put(absl::string_view serial_hex,
                                        const CertificateRecord& record,
                                        absl::Duration ttl) {
  ASSIGN_OR_RETURN(std::string key, CertKey(serial_hex));
  const std::string ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl)));
  const std::string now = absl::StrCat(absl::ToUnixMillis(absl::Now()));
  const bool per_profile = ValidateProfile(record.profile).ok();
  const std::string profile_key = ProfileCertsKey(record.profile);
  const std::string profile_expiry_key = ProfileExpiryKey(record.profile);
  std::vector<absl::string_view> keys = {key, kRevokedKey, kAllCertsKey, kAllExpiryKey};
  if (per_profile) keys.insert(keys.end(), {profile_key, profile_expiry_key});
  ASSIGN_OR_RETURN(
      RedisReplyPtr reply,
      EvalScriptOrJournal(*pool_, journal_, "PutCertificate", put_, keys,
                          {record.certificate, record.profile, ms, now, serial_hex,
                           record.issuing_ca}));
  if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
    return UnexpectedReply("PutCertificate", *reply);
  }
  const absl::string_view answer = ReplyText(*reply);
  if (absl::StartsWith(answer, "listed:")) {
    return AddNotAfter(serial_hex, answer.substr(7), record.certificate);
  }
  return absl::OkStatus();
}

absl::Status RedisCertificateIndex::AddNotAfter(absl::string_view serial_hex,
                                                absl::string_view entry,
                                                absl::string_view certificate) {
  constexpr absl::string_view kOp = "AddNotAfter";
  absl::StatusOr<absl::Time> not_after = CertificateNotAfter(certificate);
  if (!not_after.ok()) return absl::OkStatus();  // stays on every CRL, as before
  absl::string_view ca;
  ASSIGN_OR_RETURN(RevokedSerial parsed, ParseRevokedEntry(serial_hex, entry, ca));
  const std::string with = absl::StrCat(absl::ToUnixSeconds(parsed.revoked_at), ":",
                                        parsed.reason, ":", ca, ":",
                                        absl::ToUnixSeconds(*not_after));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"EVAL", kAddNotAfterScript, "1", kRevokedKey, serial_hex,
                                    entry, with}));
  if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply(kOp, *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CertificateRecord>> RedisCertificateIndex::Get(
    absl::string_view serial_hex) {
  constexpr absl::string_view kOp = "GetCertificate";
  RETURN_IF_ERROR(journal_.Flush());
  ASSIGN_OR_RETURN(std::string key, CertKey(serial_hex));
  ASSIGN_OR_RETURN(RedisReplyPtr reply,
                   pool_->Run(kOp, {"HMGET", key, "der", "profile", "revoked",
                                    "reason", "revoked_at", "ca"}));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 6) {
    return UnexpectedReply(kOp, *reply);
  }
  auto field = [&](size_t i) -> std::string {
    const redisReply* e = reply->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string(ReplyText(*e)) : std::string();
  };
  if (reply->element[0]->type != REDIS_REPLY_STRING) return std::nullopt;
  CertificateRecord record;
  record.certificate = field(0);
  record.profile = field(1);
  record.issuing_ca = field(5);
  record.revoked = field(2) == "1";
  if (record.revoked) {
    int64_t at = 0;
    (void)absl::SimpleAtoi(field(3), &record.reason);
    (void)absl::SimpleAtoi(field(4), &at);
    record.revoked_at = absl::FromUnixSeconds(at);
  }
  return record;
}

absl::StatusOr<RevokeResult> RedisCertificateIndex::Revoke(absl::string_view serial_hex,
                                                           int reason, absl::Time when) {
  ASSIGN_OR_RETURN(std::string key, CertKey(serial_hex));
  const std::string reason_text = absl::StrCat(reason);
  const std::string key_compromise = absl::StrCat(kKeyCompromiseReason);
  const std::string at = absl::StrCat(absl::ToUnixSeconds(when));
  // The CRL drops the entry once the certificate has expired (ListRevoked
  // callers decide when), so its notAfter goes with it.
  ASSIGN_OR_RETURN(RedisReplyPtr der, pool_->Run("Revoke", {"HGET", key, "der"}));
  std::string not_after;
  if (der->type == REDIS_REPLY_STRING) {
    absl::StatusOr<absl::Time> parsed = CertificateNotAfter(ReplyText(*der));
    if (parsed.ok()) not_after = absl::StrCat(absl::ToUnixSeconds(*parsed));
  }
  ASSIGN_OR_RETURN(std::string word,
                   Word(*pool_, "Revoke",
                        {"EVAL", kRevokeScript, "3", key, kRevokedKey, kGenerationKey,
                         serial_hex, reason_text, at, not_after, key_compromise},
                        RedisConnectionPool::Ack::kReplicas));
  if (word == "missing") return absl::NotFoundError("unknown serial");
  RevokeResult result;
  if (word == "ok") {
    result.newly_revoked = true;
    result.reason = reason;
    result.revoked_at = absl::FromUnixSeconds(absl::ToUnixSeconds(when));
    return result;
  }
  // "already:reason:time" or "changed:reason:time".
  std::vector<absl::string_view> parts = absl::StrSplit(word, ':');
  int64_t revoked_at = 0;
  if (parts.size() != 3 || (parts[0] != "already" && parts[0] != "changed") ||
      !absl::SimpleAtoi(parts[1], &result.reason) ||
      !absl::SimpleAtoi(parts[2], &revoked_at)) {
    return absl::DataLossError("malformed revocation record in Redis");
  }
  result.reason_changed = parts[0] == "changed";
  result.revoked_at = absl::FromUnixSeconds(revoked_at);
  return result;
}

absl::StatusOr<std::vector<RevokedSerial>> RedisCertificateIndex::ListRevoked() {
  constexpr absl::string_view kOp = "ListRevoked";
  // In pages (HSCAN) rather than one HGETALL: with 300,000 revocations
  // HGETALL held Redis for 142 ms, stalling every enrollment meanwhile; a
  // page of 2,000 takes about 1 ms. HSCAN may return an entry twice.
  absl::flat_hash_set<std::string> seen;
  std::vector<RevokedSerial> out;
  std::string cursor = "0";
  do {
    ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_->Run(kOp, {"HSCAN", kRevokedKey, cursor,
                                                           "COUNT", "2000"}));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[1]->elements % 2 != 0) {
      return UnexpectedReply(kOp, *reply);
    }
    cursor = std::string(ReplyText(*reply->element[0]));
    const redisReply& page = *reply->element[1];
    for (size_t i = 0; i + 1 < page.elements; i += 2) {
      absl::string_view ca;
      ASSIGN_OR_RETURN(RevokedSerial entry,
                       ParseRevokedEntry(ReplyText(*page.element[i]),
                                         ReplyText(*page.element[i + 1]), ca));
      if (ca != issuing_ca_) continue;
      if (!seen.insert(entry.serial_hex).second) continue;
      out.push_back(std::move(entry));
    }
  } while (cursor != "0");
  return out;
}

absl::StatusOr<std::optional<RevokedSerial>> RedisCertificateIndex::GetRevoked(
    absl::string_view serial_hex) {
  constexpr absl::string_view kOp = "GetRevoked";
  RETURN_IF_ERROR(ValidateSerialHex(serial_hex));  // (revocations are never journalled)
  ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_->Run(kOp, {"HGET", kRevokedKey, serial_hex}));
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_STRING) return UnexpectedReply(kOp, *reply);
  absl::string_view ca;
  return ParseRevokedEntry(serial_hex, ReplyText(*reply), ca);
}

absl::Status RedisCertificateIndex::ForgetRevoked(const std::vector<std::string>& serials) {
  constexpr size_t kBatch = 1000;  // bounds each command (and Redis's time in it)
  for (size_t i = 0; i < serials.size(); i += kBatch) {
    std::vector<absl::string_view> argv = {"HDEL", kRevokedKey};
    for (size_t j = i; j < std::min(serials.size(), i + kBatch); ++j) {
      RETURN_IF_ERROR(ValidateSerialHex(serials[j]));
      argv.push_back(serials[j]);
    }
    ASSIGN_OR_RETURN(RedisReplyPtr reply, pool_->Run("ForgetRevoked", argv));
    if (reply->type != REDIS_REPLY_INTEGER) return UnexpectedReply("ForgetRevoked", *reply);
  }
  return absl::OkStatus();
}

absl::StatusOr<CertificatePage> RedisCertificateIndex::List(
    absl::string_view profile, std::optional<bool> revoked,
    absl::string_view page_token, int page_size) {
  IndexPageQuery query;
  if (!profile.empty()) RETURN_IF_ERROR(ValidateProfile(profile));
  RETURN_IF_ERROR(ValidatePageSize(page_size));
  query.index_key = profile.empty() ? std::string(kAllCertsKey) : ProfileCertsKey(profile);
  query.key_prefix = kCertPrefix;
  if (revoked.has_value()) {
    query.filter_field = "revoked";
    query.filter_value = *revoked ? "1" : "0";
  }
  query.page_token = std::string(page_token);
  query.page_size = page_size;
  ASSIGN_OR_RETURN(IndexPage page, ReadIndexPage(*pool_, "ListCertificates", query));
  CertificatePage out;
  out.next_page_token = std::move(page.next_page_token);
  for (IndexPageEntry& entry : page.entries) {
    CertificateListing listing;
    listing.serial_hex = std::move(entry.member);
    listing.record.certificate = std::string(FieldOf(entry.fields, "der"));
    listing.record.profile = std::string(FieldOf(entry.fields, "profile"));
    listing.record.issuing_ca = std::string(FieldOf(entry.fields, "ca"));
    listing.record.revoked = FieldOf(entry.fields, "revoked") == "1";
    if (listing.record.revoked) {
      int64_t at = 0;
      (void)absl::SimpleAtoi(FieldOf(entry.fields, "reason"), &listing.record.reason);
      (void)absl::SimpleAtoi(FieldOf(entry.fields, "revoked_at"), &at);
      listing.record.revoked_at = absl::FromUnixSeconds(at);
    }
    out.certificates.push_back(std::move(listing));
  }
  return out;
}

}  // namespace scep::redis
