#include "common/redis/enrollment_scripts.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace scep::redis {
namespace {

// A transaction is a hash {state, fp, cert} or, once issued with a
// certificate the certificate index holds, {state, fp, serial}: the
// certificate is then read from the index entry scep:cert:{serial} (one
// copy in Redis instead of two). A key built inside a script is not
// declared in KEYS, so these scripts need a single Redis (or one Redis
// Cluster slot), as the listing scripts already do.
//
// HMGET answers false for absent fields and for an absent key, so "not
// v[1]" means "no transaction"; a stray hash without a state is replaced.
// With two KEYS the first is a senderNonce key, ARGV[1] its TTL and
// ARGV[2] the message that carries it: the script records the nonce with
// the message as its value (SET NX) and replies {"replay", "", "", ""}
// without claiming when it holds another message. The same message again
// (a retransmission) claims as a fresh nonce does, and every reply then
// ends in "again" instead of "". The claim's ARGV follow.
constexpr absl::string_view kClaim = R"lua(
local a = 0
local again = ''
if #KEYS == 2 then
  if not redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1], 'NX') then
    if redis.call('GET', KEYS[1]) ~= ARGV[2] then return {'replay', '', '', ''} end
    again = 'again'
  end
  a = 2
end
local key = KEYS[#KEYS]
local v = redis.call('HMGET', key, 'state', 'fp', 'cert', 'serial', 'lease')
if not v[1] then
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', 'pending', 'fp', ARGV[a + 1])
  if ARGV[a + 3] then redis.call('HSET', key, 'claim', ARGV[a + 3]) end
  redis.call('PEXPIRE', key, ARGV[a + 2])
  return {'claimed', ARGV[a + 1], '', again}
end
if v[5] and v[1] == 'pending' and v[2] == ARGV[a + 1] then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if now >= tonumber(v[5]) then
    redis.call('HSET', key, 'lease', string.format('%.0f', now + ARGV[a + 2]))
    if ARGV[a + 3] then redis.call('HSET', key, 'claim', ARGV[a + 3]) end
    return {'taken', v[2], '', again}
  end
end
local cert = v[3]
if not cert and v[4] then cert = redis.call('HGET', 'scep:cert:' .. v[4], 'der') end
return {v[1], v[2] or '', cert or '', again}
)lua";

// KEYS: the senderNonce key. ARGV: the message carrying it, TTL. Records
// the nonce with the message as its value: "fresh"; "again" when it holds
// this message already, "replay" when another.
constexpr absl::string_view kNonce = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 'fresh' end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 'again' end
return 'replay'
)lua";

// A parked pending entry also holds `csr` (the request) and `lease` (Redis
// time in milliseconds when its holder's lease ends); a claim on it with
// the same fingerprint after that takes it over. The lease of a parked
// entry is the claim's remaining lifetime when it was parked.
//
// ARGV: fingerprint, request, poll TTL.
constexpr absl::string_view kPark = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'cert', 'serial', 'lease')
if not v[1] then return {} end
if v[1] == 'pending' and v[2] == ARGV[1] and not v[5] then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then left = 0 end
  redis.call('HSET', KEYS[1], 'csr', ARGV[2], 'lease', string.format('%.0f', now + left))
  if tonumber(ARGV[3]) > left then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
local cert = v[3]
if not cert and v[4] then cert = redis.call('HGET', 'scep:cert:' .. v[4], 'der') end
return {v[1], v[2] or '', cert or ''}
)lua";

// ARGV: fingerprint, lease, claim token. {fp, csr} of an entry parked
// under that fingerprint whose lease has ended, now held under the token
// for `lease`; else {}.
constexpr absl::string_view kTakeOver = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'lease', 'csr')
if v[1] ~= 'pending' or v[2] ~= ARGV[1] or not v[3] or not v[4] then return {} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now < tonumber(v[3]) then return {} end
redis.call('HSET', KEYS[1], 'lease', string.format('%.0f', now + ARGV[2]), 'claim', ARGV[3])
return {v[2], v[4]}
)lua";

// ARGV: fingerprint, certificate, TTL, serial ('' when not indexed).
constexpr absl::string_view kComplete = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'cert', 'serial')
if v[1] and v[2] ~= ARGV[1] then return 'mismatch' end
if v[1] == 'issued' then
  if v[3] then
    if v[3] == ARGV[2] then return 'ok' end
    return 'conflict'
  end
  if v[4] and v[4] == ARGV[4] then return 'ok' end
  local indexed = v[4] and redis.call('HGET', 'scep:cert:' .. v[4], 'der')
  if indexed and indexed == ARGV[2] then return 'ok' end
  return 'conflict'
end
if v[1] == 'rejected' then return 'rejected' end
redis.call('DEL', KEYS[1])
if ARGV[4] ~= '' and redis.call('HGET', 'scep:cert:' .. ARGV[4], 'der') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'state', 'issued', 'fp', ARGV[1], 'serial', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'state', 'issued', 'fp', ARGV[1], 'cert', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[5] and ARGV[5] ~= '' then
  if redis.call('XLEN', 'scep:notify') < tonumber(ARGV[5]) then
    redis.call('XADD', 'scep:notify', '*', unpack(ARGV, 6))
  else
    redis.call('INCR', 'scep:notify:dropped')
  end
end
return 'ok'
)lua";

// No ARGV. {state, fp, cert} of the transaction, or {} when there is none.
constexpr absl::string_view kRead = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'cert', 'serial')
if not v[1] then return {} end
local cert = v[3]
if not cert and v[4] then cert = redis.call('HGET', 'scep:cert:' .. v[4], 'der') end
return {v[1], v[2] or '', cert or ''}
)lua";

constexpr absl::string_view kRelease = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'csr')
if not v[1] then return 'missing' end
if v[2] ~= ARGV[1] then return 'mismatch' end
if v[1] ~= 'pending' then return 'issued' end
if v[3] then
  redis.call('HSET', KEYS[1], 'lease', '0')
  return 'released'
end
redis.call('DEL', KEYS[1])
return 'released'
)lua";

// ARGV: fingerprint, certificate, pending TTL, claim token. Turns an entry
// issued under that fingerprint with that certificate (kept whole, or as
// the serial of an index entry holding it) into a pending claim under the
// token: "reopened"; anything else stays as it is: "kept".
constexpr absl::string_view kReopen = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'fp', 'cert', 'serial')
if v[1] ~= 'issued' or v[2] ~= ARGV[1] then return 'kept' end
local cert = v[3]
if not cert and v[4] then cert = redis.call('HGET', 'scep:cert:' .. v[4], 'der') end
if cert ~= ARGV[2] then return 'kept' end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'pending', 'fp', ARGV[1], 'claim', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 'reopened'
)lua";

// ARGV: claim token. Undoes one claim whose answer never arrived: deletes
// the entry only while it is pending under that very claim.
constexpr absl::string_view kAbandon = R"lua(
local v = redis.call('HMGET', KEYS[1], 'state', 'claim')
if v[1] == 'pending' and v[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 'abandoned'
end
return 'kept'
)lua";

// ARGV: TTL. Only a pending transaction can be rejected; it stays rejected
// (CertPoll and retransmissions get FAILURE) until the TTL ends.
constexpr absl::string_view kReject = R"lua(
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state == 'issued' then return 'issued' end
redis.call('HSET', KEYS[1], 'state', 'rejected')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 'ok'
)lua";

}  // namespace

// EVALSHA is only an optimisation: if SHA-1 is unavailable (a strict FIPS
// provider), an empty digest makes every call take the EVAL path.
LuaScript MakeLuaScript(absl::string_view source) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  unsigned int length = 0;
  LuaScript script;
  script.source = source;
  if (EVP_Digest(source.data(), source.size(), digest, &length, EVP_sha1(),
                 nullptr) == 1) {
    script.sha1 = absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(digest), length));
  } else {
    ERR_clear_error();
  }
  return script;
}

LuaScript ClaimScript() { return MakeLuaScript(kClaim); }
LuaScript NonceScript() { return MakeLuaScript(kNonce); }
LuaScript CompleteScript() { return MakeLuaScript(kComplete); }
LuaScript ReleaseScript() { return MakeLuaScript(kRelease); }
LuaScript AbandonScript() { return MakeLuaScript(kAbandon); }
LuaScript ReopenScript() { return MakeLuaScript(kReopen); }
LuaScript RejectScript() { return MakeLuaScript(kReject); }
LuaScript ReadScript() { return MakeLuaScript(kRead); }
LuaScript ParkScript() { return MakeLuaScript(kPark); }
LuaScript TakeOverScript() { return MakeLuaScript(kTakeOver); }

}  // namespace scep::redis
