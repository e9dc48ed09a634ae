#include "common/redis/memory_enrollment_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/redis/store_keys.h"

namespace scep::redis {
namespace {

constexpr uint64_t kSweepEveryWrites = 1024;

}  // namespace

std::unique_ptr<MemoryEnrollmentStore> MemoryEnrollmentStore::New(Clock clock) {
  if (!clock) clock = [] { return absl::Now(); };
  return std::unique_ptr<MemoryEnrollmentStore>(
      new MemoryEnrollmentStore(std::move(clock)));
}

MemoryEnrollmentStore::MemoryEnrollmentStore(Clock clock)
    : clock_(std::move(clock)) {}

Transaction::State MemoryEnrollmentStore::StateOf(const Entry& entry) {
  if (entry.rejected) return Transaction::State::kRejected;
  return entry.issued ? Transaction::State::kIssued : Transaction::State::kPending;
}

absl::Status MemoryEnrollmentStore::CheckAvailable(
    absl::string_view operation) const {
  if (unavailable_.load()) {
    return absl::UnavailableError(
        absl::StrCat("memory store ", operation, ": unavailable (test hook)"));
  }
  return absl::OkStatus();
}

MemoryEnrollmentStore::Entry* MemoryEnrollmentStore::Find(
    const std::string& key, absl::Time now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void MemoryEnrollmentStore::MaybeSweep(absl::Time now) {
  if (++writes_since_sweep_ < kSweepEveryWrites) return;
  writes_since_sweep_ = 0;
  absl::erase_if(entries_, [now](const Map::value_type& kv) {
    return kv.second.expires <= now;
  });
}

size_t MemoryEnrollmentStore::entry_count() {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<NonceUse> MemoryEnrollmentStore::RecordNonce(
    absl::string_view profile, absl::string_view nonce, absl::string_view message,
    absl::Duration ttl) {
  RETURN_IF_ERROR(CheckAvailable("RecordNonce"));
  ASSIGN_OR_RETURN(std::string key, NonceKey(profile, nonce));
  RETURN_IF_ERROR(RequireNonEmpty(message, "message"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "nonce TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (const Entry* seen = Find(key, now); seen != nullptr) {
    return seen->fingerprint == message ? NonceUse::kRetransmission : NonceUse::kReplay;
  }
  Entry& entry = entries_[key];
  entry.fingerprint = std::string(message);
  entry.expires = now + absl::Milliseconds(ttl_ms);
  MaybeSweep(now);
  return NonceUse::kFresh;
}

absl::Status MemoryEnrollmentStore::ForgetNonce(absl::string_view profile,
                                                absl::string_view nonce) {
  RETURN_IF_ERROR(CheckAvailable("ForgetNonce"));
  ASSIGN_OR_RETURN(std::string key, NonceKey(profile, nonce));
  absl::MutexLock lock(&mu_);
  entries_.erase(key);
  return absl::OkStatus();
}

absl::StatusOr<Transaction> MemoryEnrollmentStore::ClaimTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration pending_ttl) {
  RETURN_IF_ERROR(CheckAvailable("ClaimTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(pending_ttl, "pending TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (Entry* entry = Find(key, now); entry != nullptr) {
    if (StateOf(*entry) == Transaction::State::kPending &&
        entry->fingerprint == fingerprint && entry->lease_end.has_value() &&
        now >= *entry->lease_end) {
      entry->lease_end = now + absl::Milliseconds(ttl_ms);
      return Transaction{.state = Transaction::State::kClaimed,
                         .fingerprint = entry->fingerprint,
                         .certificate = "",
                         .taken_over = true};
    }
    return Transaction{.state = StateOf(*entry),
                       .fingerprint = entry->fingerprint,
                       .certificate = entry->certificate};
  }
  Entry& entry = entries_[key];
  entry.fingerprint = std::string(fingerprint);
  entry.expires = now + absl::Milliseconds(ttl_ms);
  MaybeSweep(now);
  return Transaction{.state = Transaction::State::kClaimed,
                     .fingerprint = std::string(fingerprint),
                     .certificate = ""};
}

absl::Status MemoryEnrollmentStore::CompleteTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view certificate,
    absl::Duration ttl) {
  RETURN_IF_ERROR(CheckAvailable("CompleteTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(certificate, "certificate"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "issued TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (const Entry* entry = Find(key, now); entry != nullptr) {
    if (entry->fingerprint != fingerprint) {
      return absl::FailedPreconditionError(
          "CompleteTransaction: transaction claimed by another request");
    }
    if (entry->rejected) {
      return absl::FailedPreconditionError("CompleteTransaction: transaction rejected");
    }
    if (entry->issued) {
      if (entry->certificate == certificate) return absl::OkStatus();
      return absl::FailedPreconditionError(
          "CompleteTransaction: transaction already issued another "
          "certificate");
    }
  }
  Entry issued;
  issued.issued = true;
  issued.fingerprint = std::string(fingerprint);
  issued.certificate = std::string(certificate);
  issued.expires = now + absl::Milliseconds(ttl_ms);
  entries_[key] = std::move(issued);
  MaybeSweep(now);
  return absl::OkStatus();
}

absl::Status MemoryEnrollmentStore::ReleaseTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint) {
  RETURN_IF_ERROR(CheckAvailable("ReleaseTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  absl::MutexLock lock(&mu_);
  Entry* entry = Find(key, clock_());
  if (entry == nullptr) return absl::OkStatus();
  if (entry->fingerprint != fingerprint) {
    return absl::FailedPreconditionError(
        "ReleaseTransaction: transaction claimed by another request");
  }
  if (entry->issued || entry->rejected) {
    return absl::FailedPreconditionError(
        "ReleaseTransaction: transaction already issued or rejected");
  }
  if (entry->lease_end.has_value()) {
    entry->lease_end = absl::InfinitePast();  // parked: its next poll takes over
    return absl::OkStatus();
  }
  entries_.erase(key);
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryEnrollmentStore::ReopenIssuedTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view certificate,
    absl::Duration pending_ttl) {
  RETURN_IF_ERROR(CheckAvailable("ReopenIssuedTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(certificate, "certificate"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(pending_ttl, "pending TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  Entry* entry = Find(key, now);
  if (entry == nullptr || !entry->issued || entry->fingerprint != fingerprint ||
      entry->certificate != certificate) {
    return false;
  }
  entry->issued = false;
  entry->certificate.clear();
  entry->expires = now + absl::Milliseconds(ttl_ms);
  return true;
}

absl::StatusOr<std::optional<Transaction>> MemoryEnrollmentStore::ParkPendingClaim(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::string_view request, absl::Duration poll_ttl) {
  RETURN_IF_ERROR(CheckAvailable("ParkPendingClaim"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  RETURN_IF_ERROR(RequireNonEmpty(request, "request"));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(poll_ttl, "poll TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  Entry* entry = Find(key, now);
  if (entry == nullptr) return std::nullopt;
  if (StateOf(*entry) == Transaction::State::kPending &&
      entry->fingerprint == fingerprint && !entry->lease_end.has_value()) {
    entry->lease_end = entry->expires;
    entry->parked_request = std::string(request);
    entry->expires = std::max(entry->expires, now + absl::Milliseconds(ttl_ms));
  }
  return Transaction{.state = StateOf(*entry),
                     .fingerprint = entry->fingerprint,
                     .certificate = entry->certificate};
}

absl::StatusOr<std::optional<ParkedClaim>> MemoryEnrollmentStore::TakeOverParkedClaim(
    absl::string_view profile, absl::string_view transaction_id,
    absl::string_view fingerprint, absl::Duration lease) {
  RETURN_IF_ERROR(CheckAvailable("TakeOverParkedClaim"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  RETURN_IF_ERROR(RequireNonEmpty(fingerprint, "fingerprint"));
  ASSIGN_OR_RETURN(int64_t lease_ms, TtlMillis(lease, "lease"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  Entry* entry = Find(key, now);
  if (entry == nullptr || StateOf(*entry) != Transaction::State::kPending ||
      entry->fingerprint != fingerprint || !entry->lease_end.has_value() ||
      now < *entry->lease_end) {
    return std::nullopt;
  }
  entry->lease_end = now + absl::Milliseconds(lease_ms);
  return ParkedClaim{entry->fingerprint, entry->parked_request};
}

absl::Status MemoryEnrollmentStore::RejectTransaction(
    absl::string_view profile, absl::string_view transaction_id,
    absl::Duration ttl) {
  RETURN_IF_ERROR(CheckAvailable("RejectTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "rejected TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  Entry* entry = Find(key, now);
  if (entry == nullptr) {
    return absl::NotFoundError("RejectTransaction: no such transaction");
  }
  if (entry->issued) {
    return absl::FailedPreconditionError("RejectTransaction: already issued");
  }
  entry->rejected = true;
  entry->expires = now + absl::Milliseconds(ttl_ms);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Transaction>> MemoryEnrollmentStore::GetTransaction(
    absl::string_view profile, absl::string_view transaction_id) {
  RETURN_IF_ERROR(CheckAvailable("GetTransaction"));
  ASSIGN_OR_RETURN(std::string key, TransactionKey(profile, transaction_id));
  absl::MutexLock lock(&mu_);
  const Entry* entry = Find(key, clock_());
  if (entry == nullptr) return std::nullopt;
  Transaction result;
  result.state = StateOf(*entry);
  result.fingerprint = entry->fingerprint;
  result.certificate = entry->certificate;
  return result;
}

absl::Status MemoryEnrollmentStore::Ping() { return CheckAvailable("Ping"); }

}  // namespace scep::redis
