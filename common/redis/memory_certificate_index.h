#ifndef SCEP_COMMON_REDIS_MEMORY_CERTIFICATE_INDEX_H_
#define SCEP_COMMON_REDIS_MEMORY_CERTIFICATE_INDEX_H_

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "common/redis/certificate_index.h"

namespace scep::redis {

// In-process CertificateIndex for unit tests (TTLs are not enforced) with
// an unavailability hook. One instance holds every CA's certificates and
// lists the revoked serials of `issuing_ca` ("" = the default CA).
class MemoryCertificateIndex : public CertificateIndex {
 public:
  explicit MemoryCertificateIndex(std::string issuing_ca = "")
      : issuing_ca_(std::move(issuing_ca)) {}

  void SetUnavailable(bool unavailable) { unavailable_ = unavailable; }
  // Forgets everything, as a Redis without persistence does on a restart
  // (test hook).
  void LoseEverything();

  absl::Status Put(absl::string_view serial_hex, const CertificateRecord& record,
                   absl::Duration ttl) override;
  absl::StatusOr<std::optional<CertificateRecord>> Get(
      absl::string_view serial_hex) override;
  absl::StatusOr<RevokeResult> Revoke(absl::string_view serial_hex, int reason,
                                      absl::Time when) override;
  absl::StatusOr<std::vector<RevokedSerial>> ListRevoked() override;
  absl::StatusOr<std::optional<RevokedSerial>> GetRevoked(
      absl::string_view serial_hex) override;
  absl::Status ForgetRevoked(const std::vector<std::string>& serials) override;
  absl::StatusOr<int64_t> RevocationGeneration() override;
  absl::StatusOr<CrlState> GetCrlState() override;
  absl::StatusOr<int64_t> RestoreRevoked(const std::vector<RevokedSerial>& entries,
                                         uint64_t crl_number) override;
  absl::StatusOr<uint64_t> NextCrlNumber() override;
  absl::StatusOr<CertificatePage> List(absl::string_view profile,
                                       std::optional<bool> revoked,
                                       absl::string_view page_token,
                                       int page_size) override;
  absl::StatusOr<std::optional<CachedCrl>> GetCachedCrl() override;
  absl::StatusOr<bool> PutCachedCrl(const CachedCrl& crl) override;

 private:
  absl::Status Check() const;

  const std::string issuing_ca_;
  std::atomic<bool> unavailable_{false};
  std::mutex mu_;
  std::map<std::string, CertificateRecord, std::less<>> records_;
  // Listing order: index ("" = all, else the profile) → (sequence, serial).
  std::map<std::string, std::set<std::pair<int64_t, std::string>>> listing_;
  int64_t sequence_ = 0;
  int64_t generation_ = 0;
  uint64_t crl_number_ = 0;
  std::optional<CachedCrl> crl_;
  std::set<std::string, std::less<>> forgotten_;  // ForgetRevoked
  // RestoreRevoked entries without a record.
  std::map<std::string, RevokedSerial, std::less<>> restored_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_MEMORY_CERTIFICATE_INDEX_H_
