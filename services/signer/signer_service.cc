#include "services/signer/signer_service.h"

#include <chrono>
#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_convert.h"
#include "services/signer/timed_key_access.h"
#include "services/signer/usage_names.h"

namespace scep::signer {

SignerCore* SignerService::Find(absl::string_view name) const {
  auto it = cas_.find(name);
  return it == cas_.end() ? nullptr : it->second;
}

grpc::ServerUnaryReactor* SignerService::UnknownCa(
    grpc::CallbackServerContext* context, const char* method,
    absl::string_view name) {
  const absl::Status status =
      absl::NotFoundError(absl::StrCat("unknown issuing CA '", name.substr(0, 64), "'"));
  if (metrics_ != nullptr) metrics_->RpcFinished(method, status, absl::ZeroDuration());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(rpc::ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* SignerService::Offload(
    grpc::CallbackServerContext* context, const char* method,
    const char* key_operation, std::function<absl::Status()> work,
    base::ThreadPool* pool) {
  if (pool == nullptr) pool = pool_;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  SignerMetrics* const metrics = metrics_;
  // Counted before posting: the task may start before TryPost returns.
  if (metrics != nullptr) metrics->Queued();
  bool queued = pool->TryPost(
      [context, reactor, work = std::move(work), metrics, method, key_operation,
       start] {
        if (metrics != nullptr) {
          metrics->Dequeued();
          metrics->WorkerBusy();
        }
        absl::Status status;
        // Work whose caller gave up while it queued (cancelled, or past its
        // deadline, e.g. after the signer was stalled) is not done: the
        // gateway has answered 503 and the device will retry, so a
        // signature now would be one no transaction holds.
        if (context->IsCancelled() ||
            std::chrono::system_clock::now() > context->deadline()) {
          status = absl::DeadlineExceededError("caller gave up before the work started");
        } else {
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
      if (pool == ocsp_pool_ && pool != pool_) metrics->OcspShed();
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
    grpc::CallbackServerContext* context,
    const v1::GetCertificatesRequest* request,
    v1::GetCertificatesResponse* response) {
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) {
    return UnknownCa(context, "GetCertificates", request->issuing_ca());
  }
  response->set_ca_certificate(core->ca_certificate_der());
  response->set_ra_certificate(core->ra_certificate_der());
  response->set_next_ca_certificate(core->next_ca_certificate_der());
  response->set_next_ca_message(core->next_ca_message());
  for (const std::string& der : core->ca_chain_der()) response->add_ca_chain(der);
  for (const std::string& der : core->previous_ca_der()) {
    response->add_previous_ca_certificates(der);
  }
  const IssuancePolicy& policy = core->issuance_policy();
  v1::IssuanceBounds* bounds = response->mutable_issuance_bounds();
  bounds->set_max_validity_days(static_cast<uint32_t>(policy.max_validity_days));
  for (std::string& name : KeyUsageNamesOf(policy.allowed_key_usage)) {
    bounds->add_allowed_key_usage(std::move(name));
  }
  for (const std::string& oid : policy.allowed_extended_key_usage) {
    bounds->add_allowed_extended_key_usage(oid);
  }
  for (const std::string& digest : policy.allowed_digests) bounds->add_allowed_digests(digest);
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
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) return UnknownCa(context, "DecryptEnvelope", request->issuing_ca());
  return Offload(context, "DecryptEnvelope", "decrypt",
                 [this, core, request, response]() -> absl::Status {
    ScopedKeyMechanism mechanism(KeyTransportMechanism(request->enveloped_data()));
    bool for_previous = false;
    absl::StatusOr<std::string> plain = core->Decrypt(request->enveloped_data(), &for_previous);
    if (!plain.ok()) return plain.status();
    if (for_previous && metrics_ != nullptr) {
      metrics_->PreviousRaDecryption(request->issuing_ca().empty() ? "default"
                                                                   : request->issuing_ca());
    }
    response->set_plaintext(*std::move(plain));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignCrl(
    grpc::CallbackServerContext* context, const v1::SignCrlRequest* request,
    v1::SignCrlResponse* response) {
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) return UnknownCa(context, "SignCrl", request->issuing_ca());
  return Offload(context, "SignCrl", "sign_crl",
                 [core, request, response]() -> absl::Status {
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
    absl::StatusOr<std::string> crl =
        core->SignCrl(params, request->digest(), request->ca_certificate_sha256());
    if (!crl.ok()) return crl.status();
    response->set_crl(*std::move(crl));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SignerService::SignOcsp(grpc::CallbackServerContext* context,
                                                  const v1::SignOcspRequest* request,
                                                  v1::SignOcspResponse* response) {
  SignerCore* const core = Find(request->issuing_ca());
  if (core == nullptr) return UnknownCa(context, "SignOcsp", request->issuing_ca());
  return Offload(context, "SignOcsp", "sign_ocsp",
                 [core, request, response]() -> absl::Status {
    OcspParams params;
    params.cert_id_digest = request->cert_id_digest();
    params.this_update = absl::FromUnixSeconds(request->this_update());
    params.next_update = absl::FromUnixSeconds(request->next_update());
    params.nonce = request->nonce();
    for (const v1::OcspSingleStatus& in : request->statuses()) {
      OcspStatus status;
      status.serial = in.serial();
      status.kind = in.status() == v1::OcspSingleStatus::GOOD      ? OcspStatus::Kind::kGood
                    : in.status() == v1::OcspSingleStatus::REVOKED ? OcspStatus::Kind::kRevoked
                                                                   : OcspStatus::Kind::kUnknown;
      status.revoked_at = absl::FromUnixSeconds(in.revocation_time());
      status.reason = in.reason();
      params.statuses.push_back(std::move(status));
    }
    absl::StatusOr<std::string> der = core->SignOcsp(params, request->ca_certificate_sha256());
    if (!der.ok()) return der.status();
    response->set_ocsp_response(*std::move(der));
    return absl::OkStatus();
  }, ocsp_pool_);
}

}  // namespace scep::signer
