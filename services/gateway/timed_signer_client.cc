#include "services/gateway/timed_signer_client.h"

namespace scep::gateway {
namespace {

class TimedSignerClient final : public SignerClient {
 public:
  TimedSignerClient(SignerClient* inner, GatewayMetrics* metrics)
      : inner_(inner), metrics_(metrics) {}

  absl::StatusOr<CaCertificatesDer> GetCertificates() override {
    return Timed("GetCertificates", [&] { return inner_->GetCertificates(); });
  }

  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) override {
    return Timed("DecryptEnvelope", [&] { return inner_->Decrypt(enveloped); });
  }

  absl::StatusOr<std::string> Issue(const IssueRequest& request) override {
    absl::StatusOr<std::string> cert =
        Timed("IssueCertificate", [&] { return inner_->Issue(request); });
    if (cert.ok()) metrics_->CertificateIssued();
    return cert;
  }

  absl::StatusOr<std::string> SignCertRep(
      absl::string_view content, const codec::ScepAttributes& attributes,
      absl::string_view digest) override {
    return Timed("SignCertRep", [&] {
      return inner_->SignCertRep(content, attributes, digest);
    });
  }

  absl::StatusOr<IssuedCertRep> IssueCertRep(const IssueRequest& issue,
                                             const CertRepRequest& reply) override {
    absl::StatusOr<IssuedCertRep> issued =
        Timed("IssueCertRep", [&] { return inner_->IssueCertRep(issue, reply); });
    if (issued.ok()) metrics_->CertificateIssued();
    return issued;
  }

  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override {
    return Timed("SignCrl", [&] { return inner_->SignCrl(request); });
  }
  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override {
    return Timed("SignOcsp", [&] { return inner_->SignOcsp(request); });
  }

 private:
  template <typename Fn>
  auto Timed(absl::string_view method, Fn fn) -> decltype(fn()) {
    const absl::Time start = absl::Now();
    auto result = fn();
    metrics_->SignerCall(method, result.status(), absl::Now() - start);
    return result;
  }

  SignerClient* const inner_;
  GatewayMetrics* const metrics_;
};

}  // namespace

std::unique_ptr<SignerClient> NewTimedSignerClient(SignerClient* inner,
                                                   GatewayMetrics* metrics) {
  return std::make_unique<TimedSignerClient>(inner, metrics);
}

}  // namespace scep::gateway
