#include "services/gateway/signer_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_convert.h"

namespace scep::gateway {
namespace {

namespace v1 = ::scep::signer::v1;

absl::Status Convert(const grpc::Status& status, absl::string_view call) {
  if (status.ok()) return absl::OkStatus();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
      return absl::UnavailableError(
          absl::StrCat("signer ", call, ": ", status.error_message()));
    default:
      return rpc::FromGrpcStatus(status);
  }
}

class GrpcSignerClient final : public SignerClient {
 public:
  GrpcSignerClient(std::unique_ptr<v1::Signer::StubInterface> stub,
                   absl::Duration deadline)
      : stub_(std::move(stub)), deadline_(deadline) {}

  absl::StatusOr<CaCertificatesDer> GetCertificates() override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::GetCertificatesResponse resp;
    absl::Status s = Convert(
        stub_->GetCertificates(&ctx, v1::GetCertificatesRequest(), &resp),
        "GetCertificates");
    if (!s.ok()) return s;
    return CaCertificatesDer{resp.ca_certificate(), resp.ra_certificate()};
  }

  absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::DecryptEnvelopeRequest req;
    req.set_enveloped_data(enveloped.data(), enveloped.size());
    v1::DecryptEnvelopeResponse resp;
    absl::Status s =
        Convert(stub_->DecryptEnvelope(&ctx, req, &resp), "DecryptEnvelope");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_plaintext());
  }

  absl::StatusOr<std::string> Issue(absl::string_view csr, int validity_days,
                                    absl::string_view digest) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::IssueCertificateRequest req;
    req.set_csr(csr.data(), csr.size());
    req.set_validity_days(static_cast<uint32_t>(validity_days));
    req.set_digest(digest.data(), digest.size());
    v1::IssueCertificateResponse resp;
    absl::Status s =
        Convert(stub_->IssueCertificate(&ctx, req, &resp), "IssueCertificate");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_certificate());
  }

  absl::StatusOr<std::string> SignCertRep(
      absl::string_view content, const codec::ScepAttributes& attributes,
      absl::string_view digest) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::SignCertRepRequest req;
    req.set_content(content.data(), content.size());
    req.set_digest(digest.data(), digest.size());
    v1::CertRepAttributes* a = req.mutable_attributes();
    a->set_transaction_id(attributes.transaction_id);
    a->set_sender_nonce(attributes.sender_nonce);
    if (attributes.recipient_nonce) a->set_recipient_nonce(*attributes.recipient_nonce);
    if (attributes.pki_status) {
      a->set_pki_status(std::to_string(static_cast<int>(*attributes.pki_status)));
    }
    if (attributes.fail_info) {
      a->set_fail_info(std::to_string(static_cast<int>(*attributes.fail_info)));
    }
    if (attributes.fail_info_text) a->set_fail_info_text(*attributes.fail_info_text);
    v1::SignCertRepResponse resp;
    absl::Status s = Convert(stub_->SignCertRep(&ctx, req, &resp), "SignCertRep");
    if (!s.ok()) return s;
    return std::move(*resp.mutable_pki_message());
  }

 private:
  void SetDeadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  }

  const std::unique_ptr<v1::Signer::StubInterface> stub_;
  const absl::Duration deadline_;
};

}  // namespace

std::unique_ptr<SignerClient> NewGrpcSignerClient(
    std::unique_ptr<v1::Signer::StubInterface> stub, absl::Duration deadline) {
  return std::make_unique<GrpcSignerClient>(std::move(stub), deadline);
}

std::unique_ptr<SignerClient> NewGrpcSignerClient(
    const GrpcSignerOptions& options) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  // Reconnect quickly after a signer restart instead of backing off for
  // minutes while devices get 503s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = grpc::CreateCustomChannel(
      options.target, grpc::InsecureChannelCredentials(), args);
  return NewGrpcSignerClient(v1::Signer::NewStub(channel), options.deadline);
}

}  // namespace scep::gateway
