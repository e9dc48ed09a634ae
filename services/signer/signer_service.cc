#include "services/signer/signer_service.h"

#include "common/rpc/status_convert.h"

namespace scep::signer {
namespace {

absl::StatusOr<codec::ScepAttributes> FromProto(const v1::CertRepAttributes& in) {
  codec::ScepAttributes out;
  out.message_type = codec::MessageType::kCertRep;
  out.transaction_id = in.transaction_id();
  out.sender_nonce = in.sender_nonce();
  if (out.transaction_id.empty() || out.sender_nonce.empty()) {
    return absl::InvalidArgumentError("transactionID and senderNonce required");
  }
  if (!in.recipient_nonce().empty()) out.recipient_nonce = in.recipient_nonce();
  if (in.pki_status() == "0") {
    out.pki_status = codec::PkiStatus::kSuccess;
  } else if (in.pki_status() == "2") {
    out.pki_status = codec::PkiStatus::kFailure;
  } else if (in.pki_status() == "3") {
    out.pki_status = codec::PkiStatus::kPending;
  } else {
    return absl::InvalidArgumentError("pkiStatus must be 0, 2 or 3");
  }
  if (!in.fail_info().empty()) {
    if (in.fail_info().size() != 1 || in.fail_info()[0] < '0' ||
        in.fail_info()[0] > '4') {
      return absl::InvalidArgumentError("failInfo must be 0..4");
    }
    out.fail_info = static_cast<codec::FailInfo>(in.fail_info()[0] - '0');
  }
  if (!in.fail_info_text().empty()) out.fail_info_text = in.fail_info_text();
  return out;
}

}  // namespace

grpc::ServerUnaryReactor* SignerService::Offload(
    grpc::CallbackServerContext* context, std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool queued = pool_->TryPost([reactor, work = std::move(work)] {
    reactor->Finish(rpc::ToGrpcStatus(work()));
  });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "signer overloaded"));
  }
  return reactor;
}

grpc::ServerUnaryReactor* SignerService::GetCertificates(
    grpc::CallbackServerContext* context, const v1::GetCertificatesRequest*,
    v1::GetCertificatesResponse* response) {
  response->set_ca_certificate(core_->ca_certificate_der());
  response->set_ra_certificate(core_->ra_certificate_der());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* SignerService::DecryptEnvelope(
    grpc::CallbackServerContext* context,
    const v1::DecryptEnvelopeRequest* request,
    v1::DecryptEnvelopeResponse* response) {
  return Offload(context, [this, request, response]() -> absl::Status {
    absl::StatusOr<std::string> plain = core_->Decrypt(request->enveloped_data());
    if (!plain.ok()) return plain.status();
    response->set_plaintext(*std::move(plain));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::IssueCertificate(
    grpc::CallbackServerContext* context,
    const v1::IssueCertificateRequest* request,
    v1::IssueCertificateResponse* response) {
  return Offload(context, [this, request, response]() -> absl::Status {
    if (request->validity_days() > 3650) {
      return absl::InvalidArgumentError("validity_days out of range");
    }
    absl::StatusOr<std::string> cert =
        core_->Issue(request->csr(), static_cast<int>(request->validity_days()),
                     request->digest());
    if (!cert.ok()) return cert.status();
    response->set_certificate(*std::move(cert));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignCertRep(
    grpc::CallbackServerContext* context, const v1::SignCertRepRequest* request,
    v1::SignCertRepResponse* response) {
  return Offload(context, [this, request, response]() -> absl::Status {
    absl::StatusOr<codec::ScepAttributes> attrs = FromProto(request->attributes());
    if (!attrs.ok()) return attrs.status();
    absl::StatusOr<std::string> der =
        core_->SignCertRep(request->content(), *std::move(attrs), request->digest());
    if (!der.ok()) return der.status();
    response->set_pki_message(*std::move(der));
    return absl::OkStatus();
  });
}

}  // namespace scep::signer
