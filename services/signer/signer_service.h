#ifndef SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_
#define SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_

#include "common/base/thread_pool.h"
#include "scep/signer/v1/signer.grpc.pb.h"
#include "services/signer/signer_core.h"
#include "services/signer/signer_metrics.h"

namespace scep::signer {

// The scep.signer.v1.Signer gRPC service (callback API). Each call's
// private-key work runs on `pool` so PKCS#11 latency never blocks gRPC's
// own threads; a full pool answers RESOURCE_EXHAUSTED at once, which the
// gateway turns into 503 + Retry-After.
class SignerService final : public v1::Signer::CallbackService {
 public:
  // `core`, `pool` and `metrics` (optional) are not owned and must outlive
  // the service.
  SignerService(SignerCore* core, base::ThreadPool* pool,
                SignerMetrics* metrics = nullptr)
      : core_(core), pool_(pool), metrics_(metrics) {}

  grpc::ServerUnaryReactor* SignCrl(grpc::CallbackServerContext* context,
                                    const v1::SignCrlRequest* request,
                                    v1::SignCrlResponse* response) override;
  grpc::ServerUnaryReactor* GetCertificates(
      grpc::CallbackServerContext* context,
      const v1::GetCertificatesRequest* request,
      v1::GetCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* DecryptEnvelope(
      grpc::CallbackServerContext* context,
      const v1::DecryptEnvelopeRequest* request,
      v1::DecryptEnvelopeResponse* response) override;
  grpc::ServerUnaryReactor* IssueCertificate(
      grpc::CallbackServerContext* context,
      const v1::IssueCertificateRequest* request,
      v1::IssueCertificateResponse* response) override;
  grpc::ServerUnaryReactor* SignCertRep(
      grpc::CallbackServerContext* context,
      const v1::SignCertRepRequest* request,
      v1::SignCertRepResponse* response) override;

 private:
  // Runs `work` on the pool and finishes the call with its status, recorded
  // under `method`. `key_operation` (a literal) labels the PKCS#11 metrics.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context,
                                    const char* method,
                                    const char* key_operation,
                                    std::function<absl::Status()> work);

  SignerCore* const core_;
  base::ThreadPool* const pool_;
  SignerMetrics* const metrics_;
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_
