#ifndef SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_
#define SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_

#include <memory>
#include <string>

#include "common/redis/certificate_index.h"
#include "common/redis/enrollment_scripts.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_options.h"
#include "common/redis/redis_write_journal.h"

namespace scep::redis {

// CertificateIndex in Redis (run with AOF persistence: this is the one
// piece of Redis state that cannot be rebuilt). Keys:
//   scep:cert:{serial}   hash der, profile, ca, revoked, reason, revoked_at
//   scep:revoked         hash serial -> "unix_seconds:reason[:ca[:not_after]]"
//   scep:crl:gen         revocation generation (INCR on every revocation)
//   scep:crl:number      last cRLNumber
//   scep:crl:cache[:ca]  hash gen, der, next_update, this_update, number of
//                        the CRL cached last (the default CA's, or the
//                        named CA's); the CRL parts live in
//                        redis_certificate_index_crl.cc
//   scep:crl:cache[:ca]:key:{keyid}
//                        the same for a previous CA key after a CA
//                        rollover (New's `crl_key_id`)
//   scep:certs, scep:certs:{profile}
//                        listing indexes: sorted sets of serials scored by
//                        the time first recorded (ms)
//   scep:certs-expiry, scep:certs-expiry:{profile}
//                        the same serials scored by when their record
//                        expires (ms), to drop them from the listings
// Like the enrollment store, New() connects lazily and succeeds while Redis
// is down.
class RedisCertificateIndex final : public CertificateIndex {
 public:
  // The view of issuing CA `issuing_ca` ("" = the default CA). With
  // `crl_key_id` (crypto::CaKeyId of a previous CA certificate of that CA,
  // after a CA rollover) its cached CRL is that key's, kept apart from the
  // current key's; everything else is the same view.
  static absl::StatusOr<std::unique_ptr<RedisCertificateIndex>> New(
      RedisOptions options, std::string issuing_ca = "", const std::string& crl_key_id = "");

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
  RedisCertificateIndex(std::unique_ptr<RedisConnectionPool> pool,
                        std::string issuing_ca, const std::string& crl_key_id);

  const std::unique_ptr<RedisConnectionPool> pool_;
  // Put() of a certificate already handed out must not be lost when Redis
  // drops: kept and replayed before the next Put or Get (see
  // RedisWriteJournal).
  RedisWriteJournal journal_;
  const std::string issuing_ca_;
  const std::string crl_cache_key_;
  // After Put wrote a certificate revoked because the revocation list had
  // its serial in `entry` without a notAfter: adds the certificate's, so
  // the CRL can drop the entry once it expired.
  absl::Status AddNotAfter(absl::string_view serial_hex, absl::string_view entry,
                           absl::string_view certificate);

  // Put's script, run by EVALSHA (one per issued certificate).
  const LuaScript put_;
  // GetCrlState's, by EVALSHA (one per CRL request).
  const LuaScript crl_state_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_CERTIFICATE_INDEX_H_
