#include "services/gateway/crl_cache.h"

#include <optional>
#include <utility>
#include <vector>

#include "common/base/status_macros.h"

namespace scep::gateway {

absl::StatusOr<std::string> CurrentCrl(SignerClient& signer,
                                       redis::CertificateIndex& index,
                                       absl::Duration validity, absl::Time now) {
  ASSIGN_OR_RETURN(int64_t generation, index.RevocationGeneration());
  ASSIGN_OR_RETURN(std::optional<redis::CachedCrl> cached, index.GetCachedCrl());
  if (cached.has_value() && cached->generation == generation &&
      cached->next_update - now > validity / 2) {
    return std::move(cached->der);
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
  return der;
}

}  // namespace scep::gateway
