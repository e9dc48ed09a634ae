#include "services/gateway/timed_enrollment_store.h"

namespace scep::gateway {
namespace {

using redis::Transaction;

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

class TimedEnrollmentStore final : public redis::EnrollmentStore {
 public:
  TimedEnrollmentStore(redis::EnrollmentStore* inner, GatewayMetrics* metrics)
      : inner_(inner), metrics_(metrics) {}

  absl::StatusOr<redis::NonceUse> RecordNonce(absl::string_view profile,
                                              absl::string_view nonce,
                                              absl::string_view message,
                                              absl::Duration ttl) override {
    absl::StatusOr<redis::NonceUse> use = Timed("RecordNonce", [&] {
      return inner_->RecordNonce(profile, nonce, message, ttl);
    });
    if (use.ok() && *use == redis::NonceUse::kReplay) metrics_->ReplayRefused(profile);
    if (use.ok() && *use == redis::NonceUse::kRetransmission) {
      metrics_->Retransmission(profile);
    }
    return use;
  }

  absl::Status ForgetNonce(absl::string_view profile,
                           absl::string_view nonce) override {
    return Timed("ForgetNonce",
                 [&] { return inner_->ForgetNonce(profile, nonce); });
  }

  absl::StatusOr<Transaction> ClaimTransaction(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) override {
    return Timed("ClaimTransaction", [&] {
      return inner_->ClaimTransaction(profile, transaction_id, fingerprint,
                                      pending_ttl);
    });
  }

  absl::StatusOr<std::optional<Transaction>> RecordNonceAndClaim(
      absl::string_view profile, absl::string_view nonce, absl::string_view message,
      absl::Duration nonce_ttl, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration pending_ttl) override {
    absl::StatusOr<std::optional<Transaction>> claimed =
        Timed("RecordNonceAndClaim", [&] {
          return inner_->RecordNonceAndClaim(profile, nonce, message, nonce_ttl,
                                             transaction_id, fingerprint, pending_ttl);
        });
    if (claimed.ok() && !claimed->has_value()) metrics_->ReplayRefused(profile);
    if (claimed.ok() && claimed->has_value() && (*claimed)->retransmission) {
      metrics_->Retransmission(profile);
    }
    return claimed;
  }

  absl::Status CompleteTransaction(absl::string_view profile,
                                   absl::string_view transaction_id,
                                   absl::string_view fingerprint,
                                   absl::string_view certificate,
                                   absl::Duration ttl) override {
    return Timed("CompleteTransaction", [&] {
      return inner_->CompleteTransaction(profile, transaction_id, fingerprint,
                                         certificate, ttl);
    });
  }

  absl::Status CompleteIndexedTransaction(absl::string_view profile,
                                          absl::string_view transaction_id,
                                          absl::string_view fingerprint,
                                          absl::string_view certificate,
                                          absl::string_view serial_hex,
                                          absl::Duration ttl,
                                          redis::NoticeToQueue notice = {}) override {
    return Timed("CompleteTransaction", [&] {
      return inner_->CompleteIndexedTransaction(profile, transaction_id, fingerprint,
                                                certificate, serial_hex, ttl, notice);
    });
  }
  bool QueuesNotices() const override { return inner_->QueuesNotices(); }

  absl::Status ReleaseTransaction(absl::string_view profile,
                                  absl::string_view transaction_id,
                                  absl::string_view fingerprint) override {
    return Timed("ReleaseTransaction", [&] {
      return inner_->ReleaseTransaction(profile, transaction_id, fingerprint);
    });
  }

  absl::StatusOr<bool> ReopenIssuedTransaction(absl::string_view profile,
                                               absl::string_view transaction_id,
                                               absl::string_view fingerprint,
                                               absl::string_view certificate,
                                               absl::Duration pending_ttl) override {
    return Timed("ReopenIssuedTransaction", [&] {
      return inner_->ReopenIssuedTransaction(profile, transaction_id, fingerprint,
                                             certificate, pending_ttl);
    });
  }

  absl::Status RejectTransaction(absl::string_view profile,
                                 absl::string_view transaction_id,
                                 absl::Duration ttl) override {
    return Timed("RejectTransaction", [&] {
      return inner_->RejectTransaction(profile, transaction_id, ttl);
    });
  }

  absl::StatusOr<std::optional<Transaction>> ParkPendingClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::string_view request,
      absl::Duration poll_ttl) override {
    return Timed("ParkPendingClaim", [&] {
      return inner_->ParkPendingClaim(profile, transaction_id, fingerprint, request,
                                      poll_ttl);
    });
  }

  absl::StatusOr<std::optional<redis::ParkedClaim>> TakeOverParkedClaim(
      absl::string_view profile, absl::string_view transaction_id,
      absl::string_view fingerprint, absl::Duration lease) override {
    return Timed("TakeOverParkedClaim", [&] {
      return inner_->TakeOverParkedClaim(profile, transaction_id, fingerprint, lease);
    });
  }

  absl::StatusOr<std::optional<Transaction>> GetTransaction(
      absl::string_view profile, absl::string_view transaction_id) override {
    return Timed("GetTransaction", [&] {
      return inner_->GetTransaction(profile, transaction_id);
    });
  }

  absl::Status Ping() override { return inner_->Ping(); }

 private:
  template <typename Fn>
  auto Timed(absl::string_view op, Fn fn) -> decltype(fn()) {
    const absl::Time start = absl::Now();
    auto result = fn();
    metrics_->RedisCall(op, StatusOf(result), absl::Now() - start);
    return result;
  }

  redis::EnrollmentStore* const inner_;
  GatewayMetrics* const metrics_;
};

}  // namespace

std::unique_ptr<redis::EnrollmentStore> NewTimedEnrollmentStore(
    redis::EnrollmentStore* inner, GatewayMetrics* metrics) {
  return std::make_unique<TimedEnrollmentStore>(inner, metrics);
}

}  // namespace scep::gateway
