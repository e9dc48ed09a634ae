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
  ASSIGN_OR_RETURN(request.revoked, index.ListRevoked());
  ASSIGN_OR_RETURN(request.number, index.NextCrlNumber());
  request.this_update = now;
  request.next_update = now + validity;
  ASSIGN_OR_RETURN(std::string der, signer.SignCrl(request));
  // Losing the cache write only costs a re-sign later.
  (void)index.PutCachedCrl({generation, der, request.next_update});
  return der;
}

}  // namespace scep::gateway
