#include "common/redis/memory_certificate_index.h"

#include <algorithm>
#include <iterator>

#include "common/redis/request_keys.h"
#include "common/redis/store_keys.h"

namespace scep::redis {

absl::Status MemoryCertificateIndex::Check() const {
  if (unavailable_) return absl::UnavailableError("memory index: unavailable (test hook)");
  return absl::OkStatus();
}

void MemoryCertificateIndex::LoseEverything() {
  std::lock_guard<std::mutex> lock(mu_);
  records_.clear();
  listing_.clear();
  generation_ = 0;
  crl_number_ = 0;
  crl_.reset();
  forgotten_.clear();
  restored_.clear();
}

absl::Status MemoryCertificateIndex::Put(absl::string_view serial_hex,
                                         const CertificateRecord& record,
                                         absl::Duration) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(serial_hex);
  if (it != records_.end() && it->second.revoked) return absl::OkStatus();
  if (it == records_.end()) {
    ++sequence_;
    listing_[""].emplace(sequence_, std::string(serial_hex));
    if (ValidateProfile(record.profile).ok()) {
      listing_[record.profile].emplace(sequence_, std::string(serial_hex));
    }
  }
  CertificateRecord& kept = records_[std::string(serial_hex)];
  kept = record;
  kept.revoked = false;
  // On the revocation list (restored from a CRL): recorded revoked, as
  // the Redis script does; the record carries its notAfter from now on.
  if (auto listed = restored_.find(serial_hex);
      listed != restored_.end() && !forgotten_.contains(serial_hex)) {
    kept.revoked = true;
    kept.reason = listed->second.reason;
    kept.revoked_at = listed->second.revoked_at;
    restored_.erase(listed);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CertificateRecord>> MemoryCertificateIndex::Get(
    absl::string_view serial_hex) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(serial_hex);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<RevokeResult> MemoryCertificateIndex::Revoke(absl::string_view serial_hex,
                                                            int reason, absl::Time when) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(serial_hex);
  if (it == records_.end()) return absl::NotFoundError("unknown serial");
  CertificateRecord& record = it->second;
  RevokeResult result;
  if (!record.revoked) {
    record.revoked = true;
    record.reason = reason;
    record.revoked_at = when;
    result.newly_revoked = true;
    ++generation_;
  } else if (reason == kKeyCompromiseReason && record.reason != kKeyCompromiseReason) {
    record.reason = reason;
    result.reason_changed = true;
    ++generation_;
  }
  result.reason = record.reason;
  result.revoked_at = record.revoked_at;
  return result;
}

absl::StatusOr<std::vector<RevokedSerial>> MemoryCertificateIndex::ListRevoked() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RevokedSerial> out;
  for (const auto& [serial, record] : records_) {
    if (record.revoked && record.issuing_ca == issuing_ca_ && !forgotten_.contains(serial)) {
      RevokedSerial entry{serial, record.revoked_at, record.reason};
      entry.not_after = CertificateNotAfter(record.certificate).value_or(absl::InfiniteFuture());
      out.push_back(std::move(entry));
    }
  }
  for (const auto& [serial, entry] : restored_) {
    if (!forgotten_.contains(serial)) out.push_back(entry);
  }
  return out;
}

absl::StatusOr<std::optional<RevokedSerial>> MemoryCertificateIndex::GetRevoked(
    absl::string_view serial_hex) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (forgotten_.contains(serial_hex)) return std::nullopt;
  if (auto it = records_.find(serial_hex); it != records_.end() && it->second.revoked) {
    RevokedSerial entry{std::string(serial_hex), it->second.revoked_at, it->second.reason};
    entry.not_after =
        CertificateNotAfter(it->second.certificate).value_or(absl::InfiniteFuture());
    return entry;
  }
  if (auto it = restored_.find(serial_hex); it != restored_.end()) return it->second;
  return std::nullopt;
}

absl::Status MemoryCertificateIndex::ForgetRevoked(const std::vector<std::string>& serials) {
  if (absl::Status s = Check(); !s.ok()) return s;
  for (const std::string& serial : serials) {
    if (absl::Status s = ValidateSerialHex(serial); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  forgotten_.insert(serials.begin(), serials.end());
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MemoryCertificateIndex::RevocationGeneration() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

absl::StatusOr<int64_t> MemoryCertificateIndex::RestoreRevoked(
    const std::vector<RevokedSerial>& entries, uint64_t crl_number) {
  if (absl::Status s = Check(); !s.ok()) return s;
  for (const RevokedSerial& entry : entries) {
    if (absl::Status s = ValidateSerialHex(entry.serial_hex); !s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  int64_t restored = 0;
  for (const RevokedSerial& entry : entries) {
    auto it = records_.find(entry.serial_hex);
    const bool listed = it != records_.end()
                            ? it->second.revoked && !forgotten_.contains(entry.serial_hex)
                            : restored_.contains(entry.serial_hex);
    if (listed) continue;
    ++restored;
    forgotten_.erase(entry.serial_hex);
    if (it != records_.end()) {
      it->second.revoked = true;
      it->second.reason = entry.reason;
      it->second.revoked_at = entry.revoked_at;
    } else {
      RevokedSerial kept = entry;
      kept.not_after = absl::InfiniteFuture();
      restored_[entry.serial_hex] = std::move(kept);
    }
  }
  if (restored > 0 || crl_number_ < crl_number) ++generation_;
  crl_number_ = std::max(crl_number_, crl_number);
  return restored;
}

absl::StatusOr<CrlState> MemoryCertificateIndex::GetCrlState() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return CrlState{generation_, crl_.has_value() ? crl_->number : 0};
}

absl::StatusOr<uint64_t> MemoryCertificateIndex::NextCrlNumber() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  ++crl_number_;
  if (crl_.has_value() && crl_number_ <= crl_->number) crl_number_ = crl_->number + 1;
  return crl_number_;
}

absl::StatusOr<CertificatePage> MemoryCertificateIndex::List(
    absl::string_view profile, std::optional<bool> revoked,
    absl::string_view page_token, int page_size) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (!profile.empty()) {
    if (absl::Status s = ValidateProfile(profile); !s.ok()) return s;
  }
  if (absl::Status s = ValidatePageSize(page_size); !s.ok()) return s;
  absl::StatusOr<IndexCursor> cursor = ParsePageToken(page_token);
  if (!cursor.ok()) return cursor.status();
  std::lock_guard<std::mutex> lock(mu_);
  CertificatePage page;
  auto index = listing_.find(std::string(profile));
  if (index == listing_.end()) return page;
  auto it = cursor->start ? index->second.begin()
                          : index->second.upper_bound({cursor->score, cursor->member});
  for (; it != index->second.end(); ++it) {
    if (static_cast<int>(page.certificates.size()) == page_size) {
      auto last = std::prev(it);
      page.next_page_token = PageToken(last->first, last->second);
      break;
    }
    const CertificateRecord& record = records_.at(it->second);
    if (revoked.has_value() && record.revoked != *revoked) continue;
    page.certificates.push_back({it->second, record});
  }
  return page;
}

absl::StatusOr<std::optional<CachedCrl>> MemoryCertificateIndex::GetCachedCrl() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return crl_;
}

absl::StatusOr<bool> MemoryCertificateIndex::PutCachedCrl(const CachedCrl& crl) {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (crl_.has_value() && crl_->number >= crl.number) return false;
  crl_ = crl;
  return true;
}

}  // namespace scep::redis
