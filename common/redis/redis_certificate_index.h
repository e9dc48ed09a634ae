#ifndef SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_
#define SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_

#include <memory>

#include "common/redis/certificate_index.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_options.h"

namespace scep::redis {

// CertificateIndex in Redis (run with AOF persistence: this is the one
// piece of Redis state that cannot be rebuilt). Keys:
//   scep:cert:{serial}   hash der, profile, revoked, reason, revoked_at
//   scep:revoked         hash serial -> "unix_seconds:reason"
//   scep:crl:gen         revocation generation (INCR on every revocation)
//   scep:crl:number      last cRLNumber
//   scep:crl:cache       hash gen, der, next_update of the last CRL signed
//   scep:certs, scep:certs:{profile}
//                        listing indexes: sorted sets of serials scored by
//                        the time first recorded (ms)
// Like the enrollment store, New() connects lazily and succeeds while Redis
// is down.
class RedisCertificateIndex final : public CertificateIndex {
 public:
  static absl::StatusOr<std::unique_ptr<RedisCertificateIndex>> New(
      RedisOptions options);

  absl::Status Put(absl::string_view serial_hex, const CertificateRecord& record,
                   absl::Duration ttl) override;
  absl::StatusOr<std::optional<CertificateRecord>> Get(
      absl::string_view serial_hex) override;
  absl::Status Revoke(absl::string_view serial_hex, int reason,
                      absl::Time when) override;
  absl::StatusOr<std::vector<RevokedSerial>> ListRevoked() override;
  absl::StatusOr<int64_t> RevocationGeneration() override;
  absl::StatusOr<uint64_t> NextCrlNumber() override;
  absl::StatusOr<CertificatePage> List(absl::string_view profile,
                                       std::optional<bool> revoked,
                                       absl::string_view page_token,
                                       int page_size) override;
  absl::StatusOr<std::optional<CachedCrl>> GetCachedCrl() override;
  absl::Status PutCachedCrl(const CachedCrl& crl) override;

 private:
  explicit RedisCertificateIndex(std::unique_ptr<RedisConnectionPool> pool)
      : pool_(std::move(pool)) {}

  const std::unique_ptr<RedisConnectionPool> pool_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_
