#ifndef SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
#define SCEP_SERVICES_GATEWAY_CRL_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// How far a CRL's thisUpdate lies before its signing, as for issued
// certificates: relying parties whose clock is behind would otherwise
// refuse it (X509_V_ERR_CRL_NOT_YET_VALID). nextUpdate and freshness count
// from the real time.
inline constexpr absl::Duration kCrlBackdate = absl::Minutes(5);

// A CRL and what it covers.
struct SignedCrl {
  std::shared_ptr<const std::string> der;
  int64_t generation = 0;  // the revocation generation it lists
  absl::Time next_update;
  uint64_t number = 0;  // its cRLNumber (0: unknown, cached before session 17)
  bool cached = true;   // false: signed, but the index did not take it
  // Why a CRL past half its validity was served instead of a new one (the
  // signer could not sign); OK otherwise.
  absl::Status refresh_error;
};

// The CA's current CRL (DER), shared by SCEP GetCRL and the admin API.
// The CRL cached in the certificate index is served while it covers the
// latest revocation and has more than half of `validity` left; otherwise
// a new one (next cRLNumber, nextUpdate = now + validity) is signed by the
// CA key and cached, so all gateways serve the same CRL between
// revocations. When two gateways sign at once, the CRL with the higher
// cRLNumber is cached and served by both (the other one is dropped), so a
// relying party never sees the number go back. A revoked certificate leaves the CRL (and the index's
// revocation list) once a CRL issued after its notAfter has listed it
// (RFC 5280 section 3.3), so the CRL's size follows the revoked
// certificates still valid. thisUpdate is backdated by kCrlBackdate.
// Unavailable when the index is down, or the signer while no CRL covering
// the latest revocation is cached unexpired (one past half its validity is
// served then); other codes from the signer otherwise. Thread-safe if its
// arguments are.
absl::StatusOr<SignedCrl> CurrentCrl(SignerClient& signer, redis::CertificateIndex& index,
                                     absl::Duration validity, absl::Time now = absl::Now());

// CurrentCrl with the CRL kept in this process: a request reads only the
// revocation generation and the cached CRL's number from Redis and is
// answered from memory while the CRL kept covers that generation, is
// fresh and is not below the cached number (another gateway cached a later
// CRL: it is served from then on, so gateways that signed at the same
// moment converge on one) (rather than fetching megabytes from
// Redis every time: 150,000 revocations make a 5.4 MB CRL), and when a new
// one is due one request builds it while the others wait for that build
// and share its outcome instead of each listing the revocations and asking
// the CA key to sign (and, while the signer is down, instead of each
// waiting out its own deadline in turn). Thread-safe.
//
// The CRL kept also guards against Redis losing revocations (no AOF, a
// restore from an older backup, a failover that lost writes): Redis's
// revocation generation below the kept CRL's, or its cached CRL numbered
// below it, means Redis lost what the kept CRL lists. Rather than sign a
// CRL without those revocations (revoked devices valid again) under a
// cRLNumber going back, the kept CRL's entries missing from Redis are
// recorded again (CertificateIndex::RestoreRevoked), the counter is moved
// past its number, and a new CRL is signed from the repaired list. If
// Redis cannot take them, the kept CRL is served while it is valid.
//
// Outages: while Redis cannot be read, the kept CRL is served until its
// nextUpdate (the generation cannot be checked); while the signer cannot
// sign, it is served when it covers the latest revocation and has not
// expired. Unavailable otherwise: no CRL kept, it expired, or a revocation
// is not on it.
class CrlCache {
 public:
  // What a restore found and did, for logs and metrics.
  struct Restore {
    int64_t kept_generation = 0;
    uint64_t kept_number = 0;
    redis::CrlState found;            // Redis's state that gave the loss away
    absl::StatusOr<int64_t> restored;  // entries recorded again, or why not
  };
  using RestoreObserver = std::function<void(const Restore&)>;
  // The kept CRL served because Redis or the signer failed with `why`.
  using KeptObserver = std::function<void(const SignedCrl& kept, const absl::Status& why)>;

  // `signer` and `index` are not owned and must outlive this. `on_restore`
  // (optional) hears of every restore attempt; `on_kept_served` (optional)
  // of the kept CRL served through an outage, at most once in 10 seconds.
  CrlCache(SignerClient* signer, redis::CertificateIndex* index, absl::Duration validity,
           RestoreObserver on_restore = nullptr, KeptObserver on_kept_served = nullptr)
      : signer_(signer), index_(index), validity_(validity),
        on_restore_(std::move(on_restore)), on_kept_served_(std::move(on_kept_served)) {}

  absl::StatusOr<std::shared_ptr<const std::string>> Get(absl::Time now = absl::Now());

 private:
  SignerClient* const signer_;
  redis::CertificateIndex* const index_;
  const absl::Duration validity_;
  const RestoreObserver on_restore_;
  const KeptObserver on_kept_served_;
  void NoteKeptServed(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the entries of `kept` again; true when the index has them.
  bool RestoreFrom(const SignedCrl& kept, const redis::CrlState& found);
  // A build in flight; requests that need no newer generation join it.
  struct Build {
    int64_t generation = 0;
    absl::Notification done;
    absl::StatusOr<SignedCrl> result;  // written by the builder before done
  };
  absl::Mutex mu_;
  std::optional<SignedCrl> kept_ ABSL_GUARDED_BY(mu_);
  uint64_t kept_version_ ABSL_GUARDED_BY(mu_) = 0;  // counts changes of kept_
  // A restore in flight; no new attempt before restore_retry_at_.
  static constexpr absl::Duration kRestoreBackoff = absl::Seconds(10);
  bool restoring_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time restore_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::shared_ptr<Build> building_ ABSL_GUARDED_BY(mu_);
  // After a refresh the signer failed, none before this (kept CRL served).
  absl::Time refresh_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time kept_noted_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CRL_CACHE_H_
