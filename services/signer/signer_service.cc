#include "services/signer/signer_service.h"

#include "common/rpc/status_convert.h"
#include "services/signer/timed_key_access.h"

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
    grpc::CallbackServerContext* context, const char* method,
    const char* key_operation, std::function<absl::Status()> work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  SignerMetrics* const metrics = metrics_;
  // Counted before posting: the task may start before TryPost returns.
  if (metrics != nullptr) metrics->Queued();
  bool queued = pool_->TryPost(
      [reactor, work = std::move(work), metrics, method, key_operation, start] {
        if (metrics != nullptr) {
          metrics->Dequeued();
          metrics->WorkerBusy();
        }
        absl::Status status;
        {
          ScopedKeyOperation op(key_operation);
          status = work();
        }
        if (metrics != nullptr) {
          metrics->WorkerIdle();
          metrics->RpcFinished(method, status, absl::Now() - start);
        }
        reactor->Finish(rpc::ToGrpcStatus(status));
      });
  if (!queued) {
    if (metrics != nullptr) {
      metrics->Dequeued();
      metrics->RpcFinished(method, absl::ResourceExhaustedError("overloaded"),
                           absl::Now() - start);
    }
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
  response->set_next_ca_certificate(core_->next_ca_certificate_der());
  response->set_next_ca_message(core_->next_ca_message());
  if (metrics_ != nullptr) {
    metrics_->RpcFinished("GetCertificates", absl::OkStatus(),
                          absl::ZeroDuration());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* SignerService::DecryptEnvelope(
    grpc::CallbackServerContext* context,
    const v1::DecryptEnvelopeRequest* request,
    v1::DecryptEnvelopeResponse* response) {
  return Offload(context, "DecryptEnvelope", "decrypt",
                 [this, request, response]() -> absl::Status {
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
  return Offload(context, "IssueCertificate", "sign_certificate",
                 [this, request, response]() -> absl::Status {
    if (request->validity_days() > 3650) {
      return absl::InvalidArgumentError("validity_days out of range");
    }
    SignerCore::Policy policy;
    policy.validity_days = static_cast<int>(request->validity_days());
    policy.digest = request->digest();
    policy.subject = request->subject();
    policy.subject_alt_name = request->subject_alt_name();
    policy.key_usage.assign(request->key_usage().begin(), request->key_usage().end());
    policy.extended_key_usage.assign(request->extended_key_usage().begin(),
                                     request->extended_key_usage().end());
    absl::StatusOr<std::string> cert = core_->Issue(request->csr(), policy);
    if (!cert.ok()) return cert.status();
    if (metrics_ != nullptr) metrics_->CertificateIssued();
    response->set_certificate(*std::move(cert));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignCertRep(
    grpc::CallbackServerContext* context, const v1::SignCertRepRequest* request,
    v1::SignCertRepResponse* response) {
  return Offload(context, "SignCertRep", "sign_certrep",
                 [this, request, response]() -> absl::Status {
    absl::StatusOr<codec::ScepAttributes> attrs = FromProto(request->attributes());
    if (!attrs.ok()) return attrs.status();
    absl::StatusOr<std::string> der =
        core_->SignCertRep(request->content(), *std::move(attrs), request->digest());
    if (!der.ok()) return der.status();
    response->set_pki_message(*std::move(der));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignCrl(
    grpc::CallbackServerContext* context, const v1::SignCrlRequest* request,
    v1::SignCrlResponse* response) {
  return Offload(context, "SignCrl", "sign_crl",
                 [this, request, response]() -> absl::Status {
    if (request->revoked_size() > 1'000'000) {
      return absl::InvalidArgumentError("too many revoked certificates");
    }
    CrlParams params;
    params.number = request->crl_number();
    params.this_update = absl::FromUnixSeconds(request->this_update());
    params.next_update = absl::FromUnixSeconds(request->next_update());
    params.revoked.reserve(request->revoked_size());
    for (const v1::RevokedCertificate& r : request->revoked()) {
      params.revoked.push_back(
          {r.serial(), absl::FromUnixSeconds(r.revocation_time()), r.reason()});
    }
    absl::StatusOr<std::string> crl = core_->SignCrl(params, request->digest());
    if (!crl.ok()) return crl.status();
    response->set_crl(*std::move(crl));
    return absl::OkStatus();
  });
}

}  // namespace scep::signer
