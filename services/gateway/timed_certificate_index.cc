#include "services/gateway/timed_certificate_index.h"

#include <utility>

namespace scep::gateway {
namespace {

using redis::CachedCrl;
using redis::CertificatePage;
using redis::CertificateRecord;
using redis::RevokedSerial;

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

class TimedCertificateIndex final : public redis::CertificateIndex {
 public:
  TimedCertificateIndex(std::unique_ptr<redis::CertificateIndex> inner,
                        GatewayMetrics* metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}

  absl::Status Put(absl::string_view serial_hex, const CertificateRecord& record,
                   absl::Duration ttl) override {
    return Timed("IndexPut", [&] { return inner_->Put(serial_hex, record, ttl); });
  }

  absl::StatusOr<std::optional<CertificateRecord>> Get(
      absl::string_view serial_hex) override {
    return Timed("IndexGet", [&] { return inner_->Get(serial_hex); });
  }

  absl::StatusOr<redis::RevokeResult> Revoke(absl::string_view serial_hex, int reason,
                                              absl::Time when) override {
    absl::StatusOr<redis::RevokeResult> result = Timed(
        "IndexRevoke", [&] { return inner_->Revoke(serial_hex, reason, when); });
    if (result.ok() && result->newly_revoked) metrics_->CertificateRevoked(reason);
    return result;
  }

  absl::StatusOr<std::vector<RevokedSerial>> ListRevoked() override {
    return Timed("IndexListRevoked", [&] { return inner_->ListRevoked(); });
  }
  absl::StatusOr<std::optional<RevokedSerial>> GetRevoked(
      absl::string_view serial_hex) override {
    return Timed("IndexGetRevoked", [&] { return inner_->GetRevoked(serial_hex); });
  }

  absl::Status ForgetRevoked(const std::vector<std::string>& serials) override {
    return Timed("IndexForgetRevoked", [&] { return inner_->ForgetRevoked(serials); });
  }

  absl::StatusOr<int64_t> RestoreRevoked(const std::vector<RevokedSerial>& entries,
                                         uint64_t crl_number) override {
    return Timed("IndexRestoreRevoked",
                 [&] { return inner_->RestoreRevoked(entries, crl_number); });
  }

  absl::StatusOr<redis::CrlState> GetCrlState() override {
    return Timed("IndexGetCrlState", [&] { return inner_->GetCrlState(); });
  }

  absl::StatusOr<int64_t> RevocationGeneration() override {
    return Timed("IndexRevocationGeneration",
                 [&] { return inner_->RevocationGeneration(); });
  }

  absl::StatusOr<uint64_t> NextCrlNumber() override {
    return Timed("IndexNextCrlNumber", [&] { return inner_->NextCrlNumber(); });
  }

  absl::StatusOr<CertificatePage> List(absl::string_view profile,
                                       std::optional<bool> revoked,
                                       absl::string_view page_token,
                                       int page_size) override {
    return Timed("IndexList", [&] {
      return inner_->List(profile, revoked, page_token, page_size);
    });
  }

  absl::StatusOr<std::optional<CachedCrl>> GetCachedCrl() override {
    return Timed("IndexGetCachedCrl", [&] { return inner_->GetCachedCrl(); });
  }

  absl::StatusOr<bool> PutCachedCrl(const CachedCrl& crl) override {
    return Timed("IndexPutCachedCrl", [&] { return inner_->PutCachedCrl(crl); });
  }

 private:
  template <typename Fn>
  auto Timed(absl::string_view op, Fn fn) -> decltype(fn()) {
    const absl::Time start = absl::Now();
    auto result = fn();
    metrics_->RedisCall(op, StatusOf(result), absl::Now() - start);
    return result;
  }

  const std::unique_ptr<redis::CertificateIndex> inner_;
  GatewayMetrics* const metrics_;
};

}  // namespace

std::unique_ptr<redis::CertificateIndex> NewTimedCertificateIndex(
    std::unique_ptr<redis::CertificateIndex> inner, GatewayMetrics* metrics) {
  return std::make_unique<TimedCertificateIndex>(std::move(inner), metrics);
}

}  // namespace scep::gateway
