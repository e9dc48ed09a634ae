#include "common/redis/memory_request_store.h"

#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/redis/request_keys.h"
#include "common/redis/store_keys.h"

namespace scep::redis {
namespace {

MemoryRequestStore::Clock OrNow(MemoryRequestStore::Clock clock) {
  if (clock) return clock;
  return [] { return absl::Now(); };
}

}  // namespace

MemoryRequestStore::MemoryRequestStore(Clock clock) : clock_(OrNow(std::move(clock))) {}

absl::Status MemoryRequestStore::CheckAvailable(absl::string_view operation) const {
  if (unavailable_.load()) {
    return absl::UnavailableError(
        absl::StrCat("memory request store ", operation, ": unavailable (test hook)"));
  }
  return absl::OkStatus();
}

MemoryRequestStore::Entry* MemoryRequestStore::Find(const std::string& key,
                                                    absl::Time now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.expires <= now) {
    Drop(key);
    return nullptr;
  }
  return &it->second;
}

void MemoryRequestStore::Drop(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  const std::pair<int64_t, std::string> member(it->second.score, key);
  for (auto& [index_key, index] : indexes_) index.erase(member);
  entries_.erase(it);
}

absl::Status MemoryRequestStore::Create(const ApprovalRequest& request,
                                        absl::Duration ttl) {
  RETURN_IF_ERROR(CheckAvailable("Create"));
  ASSIGN_OR_RETURN(std::string key, RequestKey(request.profile, request.transaction_id));
  ASSIGN_OR_RETURN(std::string profile_index, RequestIndexKey(request.profile));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "request TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  if (Find(key, now) != nullptr) {
    return absl::AlreadyExistsError("request already recorded for this transaction");
  }
  Entry entry;
  entry.request = request;
  entry.request.status = ApprovalRequest::Status::kRequested;
  entry.request.serial_hex.clear();
  entry.request.actor.clear();
  entry.score = absl::ToUnixMillis(now);
  entry.request.created = entry.request.updated = absl::FromUnixMillis(entry.score);
  entry.expires = now + absl::Milliseconds(ttl_ms);
  indexes_[profile_index].emplace(entry.score, key);
  indexes_[std::string(kAllRequestsIndexKey)].emplace(entry.score, key);
  entries_[key] = std::move(entry);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ApprovalRequest>> MemoryRequestStore::Get(
    absl::string_view profile, absl::string_view transaction_id) {
  RETURN_IF_ERROR(CheckAvailable("Get"));
  ASSIGN_OR_RETURN(std::string key, RequestKey(profile, transaction_id));
  absl::MutexLock lock(&mu_);
  Entry* entry = Find(key, clock_());
  if (entry == nullptr) return std::nullopt;
  return entry->request;
}

absl::Status MemoryRequestStore::Transition(absl::string_view profile,
                                            absl::string_view transaction_id,
                                            ApprovalRequest::Status from,
                                            ApprovalRequest::Status to,
                                            absl::string_view actor,
                                            absl::string_view serial_hex) {
  RETURN_IF_ERROR(CheckAvailable("Transition"));
  ASSIGN_OR_RETURN(std::string key, RequestKey(profile, transaction_id));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  Entry* entry = Find(key, now);
  if (entry == nullptr) return absl::NotFoundError("no such request");
  if (entry->request.status != from) {
    return absl::FailedPreconditionError(absl::StrCat(
        "request is ", StatusName(entry->request.status), ", not ", StatusName(from)));
  }
  entry->request.status = to;
  entry->request.actor = std::string(actor);
  if (!serial_hex.empty()) entry->request.serial_hex = std::string(serial_hex);
  entry->request.updated = absl::FromUnixMillis(absl::ToUnixMillis(now));
  return absl::OkStatus();
}

absl::StatusOr<RequestPage> MemoryRequestStore::List(
    absl::string_view profile, std::optional<ApprovalRequest::Status> status,
    absl::string_view page_token, int page_size) {
  RETURN_IF_ERROR(CheckAvailable("List"));
  ASSIGN_OR_RETURN(std::string index_key, RequestIndexKey(profile));
  RETURN_IF_ERROR(ValidatePageSize(page_size));
  ASSIGN_OR_RETURN(IndexCursor cursor, ParsePageToken(page_token));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  RequestPage page;
  auto index_it = indexes_.find(index_key);
  if (index_it == indexes_.end()) return page;
  // Copy the members first: expired entries are dropped while walking.
  std::vector<std::pair<int64_t, std::string>> members;
  auto it = cursor.start ? index_it->second.begin()
                         : index_it->second.upper_bound({cursor.score, cursor.member});
  for (; it != index_it->second.end(); ++it) members.push_back(*it);
  for (size_t i = 0; i < members.size(); ++i) {
    Entry* entry = Find(members[i].second, now);
    if (entry == nullptr) continue;
    if (status.has_value() && entry->request.status != *status) continue;
    page.requests.push_back(entry->request);
    if (static_cast<int>(page.requests.size()) == page_size) {
      if (i + 1 < members.size()) {
        page.next_page_token = PageToken(members[i].first, members[i].second);
      }
      break;
    }
  }
  return page;
}

MemoryChallengeStore::MemoryChallengeStore(Clock clock) : clock_(OrNow(std::move(clock))) {}

absl::Status MemoryChallengeStore::CheckAvailable() const {
  if (unavailable_.load()) {
    return absl::UnavailableError("memory challenge store: unavailable (test hook)");
  }
  return absl::OkStatus();
}

absl::Status MemoryChallengeStore::Create(absl::string_view profile,
                                          absl::string_view challenge,
                                          absl::string_view subject,
                                          absl::Duration ttl) {
  RETURN_IF_ERROR(CheckAvailable());
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(int64_t ttl_ms, TtlMillis(ttl, "challenge TTL"));
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
  }
  // As Redis's SET: a new challenge, unclaimed.
  entries_[key] = {std::string(subject), now + absl::Milliseconds(ttl_ms), ""};
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> MemoryChallengeStore::Claim(
    absl::string_view profile, absl::string_view challenge,
    absl::string_view transaction_id, absl::string_view fingerprint) {
  RETURN_IF_ERROR(CheckAvailable());
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(std::string holder, ChallengeHolder(transaction_id, fingerprint));
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= clock_()) {
    entries_.erase(it);
    return std::nullopt;
  }
  if (it->second.holder.empty()) it->second.holder = holder;
  if (it->second.holder != holder) return std::nullopt;
  return it->second.subject;
}

absl::Status MemoryChallengeStore::Spend(absl::string_view profile,
                                         absl::string_view challenge,
                                         absl::string_view transaction_id,
                                         absl::string_view fingerprint) {
  RETURN_IF_ERROR(CheckAvailable());
  ASSIGN_OR_RETURN(std::string key, ChallengeKey(profile, challenge));
  ASSIGN_OR_RETURN(std::string holder, ChallengeHolder(transaction_id, fingerprint));
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.holder == holder) entries_.erase(it);
  return absl::OkStatus();
}

}  // namespace scep::redis
