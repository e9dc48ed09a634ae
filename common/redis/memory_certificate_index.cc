#include "common/redis/memory_certificate_index.h"

namespace scep::redis {

absl::Status MemoryCertificateIndex::Check() const {
  if (unavailable_) return absl::UnavailableError("memory index: unavailable (test hook)");
  return absl::OkStatus();
}

absl::Status MemoryCertificateIndex::Put(absl::string_view serial_hex,
                                         const CertificateRecord& record,
                                         absl::Duration) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(serial_hex);
  if (it != records_.end() && it->second.revoked) return absl::OkStatus();
  records_[std::string(serial_hex)] = record;
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

absl::Status MemoryCertificateIndex::Revoke(absl::string_view serial_hex,
                                            int reason, absl::Time when) {
  if (absl::Status s = Check(); !s.ok()) return s;
  if (absl::Status s = ValidateSerialHex(serial_hex); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = records_.find(serial_hex);
  if (it == records_.end()) return absl::NotFoundError("unknown serial");
  if (it->second.revoked) return absl::OkStatus();
  it->second.revoked = true;
  it->second.reason = reason;
  it->second.revoked_at = when;
  ++generation_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RevokedSerial>> MemoryCertificateIndex::ListRevoked() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RevokedSerial> out;
  for (const auto& [serial, record] : records_) {
    if (record.revoked) out.push_back({serial, record.revoked_at, record.reason});
  }
  return out;
}

absl::StatusOr<int64_t> MemoryCertificateIndex::RevocationGeneration() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

absl::StatusOr<uint64_t> MemoryCertificateIndex::NextCrlNumber() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return ++crl_number_;
}

absl::StatusOr<std::optional<CachedCrl>> MemoryCertificateIndex::GetCachedCrl() {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return crl_;
}

absl::Status MemoryCertificateIndex::PutCachedCrl(const CachedCrl& crl) {
  if (absl::Status s = Check(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (!crl_.has_value() || crl_->generation <= crl.generation) crl_ = crl;
  return absl::OkStatus();
}

}  // namespace scep::redis
