#ifndef SCEP_COMMON_REDIS_ENROLLMENT_SCRIPTS_H_
#define SCEP_COMMON_REDIS_ENROLLMENT_SCRIPTS_H_

// Lua scripts that make each transaction step one atomic round trip.
// A transaction is a hash {state = "pending" | "issued" | "rejected", fp,
// cert} with a TTL; an issued one may hold `serial` instead of `cert`, the
// certificate then being read from the certificate index (scep:cert:{serial}).
// Every script takes the transaction key as KEYS[1], TTLs in milliseconds,
// and answers with a short word the store maps to a Status.

#include <string>

#include "absl/strings/string_view.h"

namespace scep::redis {

// A script and the SHA-1 hex digest EVALSHA names it by.
struct LuaScript {
  absl::string_view source;
  std::string sha1;
};

// `source` (static storage) with its digest; an empty digest (SHA-1
// unavailable, e.g. a strict FIPS provider) makes every call use EVAL.
LuaScript MakeLuaScript(absl::string_view source);

// ARGV: fingerprint, pending TTL[, claim token]. Creates a pending entry
// when none exists (remembering the token) and replies {"claimed", fp, "",
// again}; takes over a parked entry with this fingerprint whose lease has
// ended (ParkScript), its lease then ending after the pending TTL, and
// replies {"taken", fp, "", again}; otherwise replies {state, fp, cert,
// again} of the stored entry. With KEYS {nonce key, transaction key} and
// ARGV {nonce TTL, message, ...}, first records the nonce as NonceScript
// does: {"replay", "", "", ""} without claiming when it holds another
// message; `again` is "again" when it held this message, else "".
LuaScript ClaimScript();

// KEYS: senderNonce key. ARGV: message, TTL. Records the nonce (SET NX)
// with the message as its value: "fresh"; "again" when it holds this
// message already; "replay" when it holds another.
LuaScript NonceScript();

// ARGV: fingerprint, certificate, issued TTL, serial ('' = not indexed).
// Replies "mismatch" when an entry with another fingerprint exists, "ok"
// when issued with this certificate already, "conflict" when issued with
// another one; otherwise stores the issued entry (claimed or expired), with
// only the serial when the index entry of `serial` holds this certificate,
// and replies "ok". With ARGV[5] (a bound, '' = none) and ARGV[6...] (a
// notice's fields, notice_outbox.h), the change to issued also queues the
// notice on kNoticeStreamKey (or counts it dropped past the bound): queued
// exactly when the transaction is completed, never for a repeat.
LuaScript CompleteScript();

// ARGV: fingerprint. Deletes the entry (a parked one: ends its lease and
// keeps it) and replies "released" only when it is pending with this
// fingerprint; else "missing", "mismatch" or "issued".
LuaScript ReleaseScript();

// ARGV: claim token. Deletes the entry only while it is pending under that
// token (a claim whose reply was lost); replies "abandoned" or "kept".
LuaScript AbandonScript();

// ARGV: fingerprint, certificate, pending TTL, claim token. Turns an entry
// issued under this fingerprint with this certificate (whole or through
// the index) into a pending claim under the token and replies "reopened";
// otherwise changes nothing and replies "kept".
LuaScript ReopenScript();
LuaScript RejectScript();

// ARGV: fingerprint, request, poll TTL. Parks an entry pending under this
// fingerprint: keeps the request and the end of its holder's lease (now +
// the entry's remaining TTL) and extends the TTL to the poll TTL when that
// is longer. Replies {state, fp, cert} as the read script does, {} when
// there is no entry. A parked entry is taken over by a claim with its
// fingerprint (ClaimScript) or by TakeOverScript once the lease has ended.
LuaScript ParkScript();

// ARGV: fingerprint, lease, claim token. Replies {fp, request} of an entry
// parked under that fingerprint whose lease has ended, now held under the
// token until now + lease; {} otherwise.
LuaScript TakeOverScript();

// No ARGV. Replies {state, fp, cert} (cert read through the index for an
// entry that holds a serial; '' when that entry is gone), or {} when there
// is no transaction.
LuaScript ReadScript();

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_ENROLLMENT_SCRIPTS_H_
