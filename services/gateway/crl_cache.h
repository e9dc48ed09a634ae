#ifndef SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
#define SCEP_SERVICES_GATEWAY_CRL_CACHE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// A CRL and what it covers.
struct SignedCrl {
  std::shared_ptr<const std::string> der;
  int64_t generation = 0;  // the revocation generation it lists
  absl::Time next_update;
};

// The CA's current CRL (DER), shared by SCEP GetCRL and the admin API.
// The CRL cached in the certificate index is served while it covers the
// latest revocation and has more than half of `validity` left; otherwise
// a new one (next cRLNumber, nextUpdate = now + validity) is signed by the
// CA key and cached, so all gateways serve the same CRL between
// revocations. A revoked certificate leaves the CRL (and the index's
// revocation list) once a CRL issued after its notAfter has listed it
// (RFC 5280 section 3.3), so the CRL's size follows the revoked
// certificates still valid. Unavailable when the index or the signer is
// down; other codes from the signer otherwise. Thread-safe if its
// arguments are.
absl::StatusOr<SignedCrl> CurrentCrl(SignerClient& signer, redis::CertificateIndex& index,
                                     absl::Duration validity, absl::Time now = absl::Now());

// CurrentCrl with the CRL kept in this process: a request reads only the
// revocation generation from Redis and is answered from memory while the
// CRL kept covers it and is fresh (rather than fetching megabytes from
// Redis every time: 150,000 revocations make a 5.4 MB CRL), and when a new
// one is due one request builds it while the others wait for that build
// and share its outcome instead of each listing the revocations and asking
// the CA key to sign (and, while the signer is down, instead of each
// waiting out its own deadline in turn). Thread-safe.
class CrlCache {
 public:
  // `signer` and `index` are not owned and must outlive this.
  CrlCache(SignerClient* signer, redis::CertificateIndex* index, absl::Duration validity)
      : signer_(signer), index_(index), validity_(validity) {}

  absl::StatusOr<std::shared_ptr<const std::string>> Get(absl::Time now = absl::Now());

 private:
  SignerClient* const signer_;
  redis::CertificateIndex* const index_;
  const absl::Duration validity_;
  // A build in flight; requests that need no newer generation join it.
  struct Build {
    int64_t generation = 0;
    absl::Notification done;
    absl::StatusOr<SignedCrl> result;  // written by the builder before done
  };
  absl::Mutex mu_;
  std::optional<SignedCrl> kept_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Build> building_ ABSL_GUARDED_BY(mu_);
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
