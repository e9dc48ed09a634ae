#include "services/gateway/crl_cache.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/base/status_macros.h"

namespace scep::gateway {

namespace {

bool Fresh(int64_t generation, absl::Time next_update, int64_t wanted,
           absl::Duration validity, absl::Time now) {
  return generation >= wanted && next_update - now > validity / 2;
}

}  // namespace

absl::StatusOr<SignedCrl> CurrentCrl(SignerClient& signer, redis::CertificateIndex& index,
                                     absl::Duration validity, absl::Time now) {
  ASSIGN_OR_RETURN(int64_t generation, index.RevocationGeneration());
  ASSIGN_OR_RETURN(std::optional<redis::CachedCrl> cached, index.GetCachedCrl());
  if (cached.has_value() &&
      Fresh(cached->generation, cached->next_update, generation, validity, now)) {
    return SignedCrl{std::make_shared<const std::string>(std::move(cached->der)),
                     cached->generation, cached->next_update};
  }
  CrlRequest request;
  ASSIGN_OR_RETURN(std::vector<redis::RevokedSerial> revoked, index.ListRevoked());
  // RFC 5280 section 3.3: an entry may leave the CRL once it has appeared on
  // one CRL issued after the certificate expired. Every CRL lists every
  // entry not dropped here, so one whose notAfter precedes the previous
  // CRL's thisUpdate was on that CRL. (Without a cached CRL, or one from
  // before session 16, nothing is dropped.) Dropped entries are forgotten,
  // so the revocation list and the CRL stay bounded by the certificates
  // still valid, not by every revocation ever.
  const absl::Time previous =
      cached.has_value() ? cached->this_update : absl::InfinitePast();
  std::vector<std::string> expired;
  for (redis::RevokedSerial& entry : revoked) {
    if (entry.not_after < previous) {
      expired.push_back(std::move(entry.serial_hex));
    } else {
      request.revoked.push_back(std::move(entry));
    }
  }
  ASSIGN_OR_RETURN(request.number, index.NextCrlNumber());
  request.this_update = now;
  request.next_update = now + validity;
  ASSIGN_OR_RETURN(std::string der, signer.SignCrl(request));
  // Losing the cache write only costs a re-sign later.
  (void)index.PutCachedCrl({generation, der, request.next_update, request.this_update});
  // They are off this CRL; failing to forget them only keeps them listed.
  if (!expired.empty()) (void)index.ForgetRevoked(expired);
  return SignedCrl{std::make_shared<const std::string>(std::move(der)), generation,
                   request.next_update};
}

absl::StatusOr<std::shared_ptr<const std::string>> CrlCache::Get(absl::Time now) {
  ASSIGN_OR_RETURN(int64_t generation, index_->RevocationGeneration());
  std::shared_ptr<Build> build;
  bool mine = false;
  {
    absl::MutexLock lock(&mu_);
    if (kept_.has_value() && Fresh(kept_->generation, kept_->next_update, generation,
                                   validity_, now)) {
      return kept_->der;
    }
    if (building_ != nullptr && building_->generation >= generation) {
      build = building_;
    } else {
      build = building_ = std::make_shared<Build>();
      build->generation = generation;
      mine = true;
    }
  }
  if (mine) {
    build->result = CurrentCrl(*signer_, *index_, validity_, now);
    {
      absl::MutexLock lock(&mu_);
      if (build->result.ok() &&
          (!kept_.has_value() || kept_->generation <= build->result->generation)) {
        kept_ = *build->result;
      }
      if (building_ == build) building_.reset();
    }
    build->done.Notify();
  } else {
    build->done.WaitForNotification();
  }
  if (!build->result.ok()) return build->result.status();
  return build->result->der;
}

}  // namespace scep::gateway
