#include "services/gateway/crl_cache.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/base/status_macros.h"
#include "services/gateway/crl_contents.h"

namespace scep::gateway {

namespace {

bool Fresh(int64_t generation, absl::Time next_update, int64_t wanted,
           absl::Duration validity, absl::Time now) {
  return generation >= wanted && next_update - now > validity / 2;
}

// One attempt of CurrentCrl: the cached CRL if it is current, else a new
// one. `*superseded` when another gateway cached a CRL with a higher
// cRLNumber while this one was being signed: the caller looks again rather
// than serve a CRL numbered below the one others serve.
absl::StatusOr<SignedCrl> CurrentCrlOnce(SignerClient& signer, redis::CertificateIndex& index,
                                         absl::Duration validity, absl::Time now,
                                         bool* superseded) {
  *superseded = false;
  ASSIGN_OR_RETURN(int64_t generation, index.RevocationGeneration());
  ASSIGN_OR_RETURN(std::optional<redis::CachedCrl> cached, index.GetCachedCrl());
  if (cached.has_value() &&
      Fresh(cached->generation, cached->next_update, generation, validity, now)) {
    return SignedCrl{std::make_shared<const std::string>(std::move(cached->der)),
                     cached->generation, cached->next_update, cached->number, true,
                     absl::OkStatus()};
  }
  CrlRequest request;
  // The number before the list: a CRL listed after a revocation is then
  // numbered after every CRL listed before it (the other way round, a CRL
  // listed before a revocation could take a higher number than another
  // gateway's CRL that has it: a relying party keeping the highest
  // cRLNumber would miss the revocation).
  ASSIGN_OR_RETURN(request.number, index.NextCrlNumber());
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
  request.this_update = now - kCrlBackdate;
  request.next_update = now + validity;
  absl::StatusOr<std::string> der = signer.SignCrl(request);
  if (absl::IsUnavailable(der.status()) && cached.has_value() &&
      cached->generation >= generation && cached->next_update > now) {
    // Only half its validity is gone: still the current CRL while no
    // new one can be signed (503 is for a revocation not yet on a CRL).
    return SignedCrl{std::make_shared<const std::string>(std::move(cached->der)),
                     cached->generation, cached->next_update, cached->number, true,
                     der.status()};
  }
  if (!der.ok()) return der.status();
  absl::StatusOr<bool> cached_now = index.PutCachedCrl(
      {generation, *der, request.next_update, request.this_update, request.number});
  // Failing to cache it only costs a re-sign later.
  if (cached_now.ok() && !*cached_now) {
    *superseded = true;
  } else if (!expired.empty()) {
    // They are off this CRL; failing to forget them only keeps them listed.
    (void)index.ForgetRevoked(expired);
  }
  return SignedCrl{std::make_shared<const std::string>(*std::move(der)), generation,
                   request.next_update, request.number, cached_now.ok() && *cached_now,
                   absl::OkStatus()};
}

}  // namespace

absl::StatusOr<SignedCrl> CurrentCrl(SignerClient& signer, redis::CertificateIndex& index,
                                     absl::Duration validity, absl::Time now) {
  // Two gateways signing at once (a revocation, then a CRL request at each)
  // take cRLNumbers n and n+1; the one that cached n+1 first wins, and the
  // other serves the winner's CRL when it covers the revocations it was
  // asked for, or signs again (n+2) when it does not. Bounded: after
  // kAttempts lost races the last CRL signed is served.
  constexpr int kAttempts = 3;
  absl::StatusOr<SignedCrl> crl;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    bool superseded = false;
    crl = CurrentCrlOnce(signer, index, validity, now, &superseded);
    if (!crl.ok() || !superseded) return crl;
  }
  return crl;
}

bool CrlCache::RestoreFrom(const SignedCrl& kept, const redis::CrlState& found) {
  Restore restore{kept.generation, kept.number, found, 0};
  absl::StatusOr<CrlContents> contents = ReadCrl(*kept.der);
  if (!contents.ok()) {
    restore.restored = contents.status();
  } else {
    restore.restored = index_->RestoreRevoked(contents->revoked, kept.number);
  }
  if (on_restore_ != nullptr) on_restore_(restore);
  return restore.restored.ok();
}

absl::StatusOr<std::shared_ptr<const std::string>> CrlCache::Get(absl::Time now) {
  uint64_t kept_version = 0;
  {
    absl::MutexLock lock(&mu_);
    kept_version = kept_version_;
  }
  absl::StatusOr<redis::CrlState> read = index_->GetCrlState();
  if (!read.ok()) {
    // Redis down: whether a revocation is missing from the kept CRL cannot
    // be told (none can be made meanwhile, one made just before would
    // be); a valid CRL beats a 503 that sends relying parties to their
    // fail-open or fail-closed defaults.
    absl::MutexLock lock(&mu_);
    if (!absl::IsUnavailable(read.status()) || !kept_.has_value() || kept_->next_update <= now) {
      return read.status();
    }
    NoteKeptServed(read.status());
    return kept_->der;
  }
  redis::CrlState state = *std::move(read);
  std::optional<SignedCrl> lost;
  {
    absl::MutexLock lock(&mu_);
    // Only a CRL kept before `state` was read can tell a loss: one kept
    // since may cover a revocation made after that read. (A kept CRL the
    // index did not take is numbered above the cached one.)
    if (kept_.has_value() && kept_version_ == kept_version &&
        (state.generation < kept_->generation ||
         (kept_->cached && state.cached_number < kept_->number))) {
      // One restore at a time, and after a failed one none for a while
      // (each reads the whole CRL): meanwhile the kept CRL is served.
      if (restoring_ || absl::Now() < restore_retry_at_) {
        if (kept_->next_update > now) return kept_->der;
        return absl::UnavailableError("CRL: restoring revocations Redis lost");
      }
      restoring_ = true;
      lost = kept_;
    }
  }
  if (lost.has_value()) {
    const bool restored = RestoreFrom(*lost, state);
    {
      absl::MutexLock lock(&mu_);
      restoring_ = false;
      if (!restored) restore_retry_at_ = absl::Now() + kRestoreBackoff;
    }
    if (!restored) {
      if (lost->next_update > now) return lost->der;
      return absl::UnavailableError("CRL: revocations lost in Redis could not be restored");
    }
    {
      absl::MutexLock lock(&mu_);
      // Its generation means nothing against Redis's from now on: the next
      // CRL is signed from the repaired list.
      if (kept_.has_value() && kept_->number == lost->number) {
        kept_.reset();
        ++kept_version_;
      }
    }
    ASSIGN_OR_RETURN(state, index_->GetCrlState());
  }
  const int64_t generation = state.generation;
  std::shared_ptr<Build> build;
  bool mine = false;
  {
    absl::MutexLock lock(&mu_);
    if (kept_.has_value() && kept_->number >= state.cached_number &&
        Fresh(kept_->generation, kept_->next_update, generation, validity_, now)) {
      return kept_->der;
    }
    // A refresh failed a moment ago: no new attempt (each would wait out
    // the signer's deadline) while the kept CRL is current and valid.
    if (kept_.has_value() && kept_->generation >= generation && kept_->next_update > now &&
        kept_->number >= state.cached_number && absl::Now() < refresh_retry_at_) {
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
      // Of two builds in flight (a newer generation arrived meanwhile), the
      // later CRL is kept.
      if (build->result.ok() &&
          (!kept_.has_value() || kept_->number <= build->result->number)) {
        kept_ = *build->result;
        ++kept_version_;
      }
      if (building_ == build) building_.reset();
    }
    build->done.Notify();
  } else {
    build->done.WaitForNotification();
  }
  const absl::StatusOr<SignedCrl>& result = build->result;
  if (result.ok() && result->refresh_error.ok()) return result->der;
  if (!result.ok() && !absl::IsUnavailable(result.status())) return result.status();
  // The signer down when only half the validity is gone: the kept CRL (or
  // the one cached in Redis, which CurrentCrl served) still lists every
  // revocation. 503 only for a revocation it lacks, or once it expired.
  const absl::Status why = result.ok() ? result->refresh_error : result.status();
  absl::MutexLock lock(&mu_);
  if (kept_.has_value() && kept_->generation >= generation && kept_->next_update > now) {
    refresh_retry_at_ = absl::Now() + kRestoreBackoff;
    NoteKeptServed(why);
    return kept_->der;
  }
  if (result.ok()) return result->der;
  return result.status();
}

void CrlCache::NoteKeptServed(const absl::Status& why) {
  if (on_kept_served_ == nullptr || absl::Now() < kept_noted_at_ + kRestoreBackoff) return;
  kept_noted_at_ = absl::Now();
  on_kept_served_(*kept_, why);
}

}  // namespace scep::gateway
