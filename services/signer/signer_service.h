#ifndef SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_
#define SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "common/base/thread_pool.h"
#include "scep/signer/v1/signer.grpc.pb.h"
#include "services/signer/caller_rate_limit.h"
#include "services/signer/issuance_audit.h"
#include "services/signer/signer_core.h"
#include "services/signer/recent_issuance.h"
#include "services/signer/signer_metrics.h"

namespace scep::signer {

// What the service reports to and is bounded by; each optional, none
// owned.
struct SignerServiceOptions {
  SignerMetrics* metrics = nullptr;
  // Every certificate the CA keys sign, every issuance their policy
  // refuses, and the first rate-limited request of a caller per minute.
  IssuanceAudit* audit = nullptr;
  // Issuance per caller: over it, RESOURCE_EXHAUSTED (the gateway
  // answers 503 + Retry-After) and nothing is signed.
  CallerRateLimit* rate_limit = nullptr;
  // A certificate whose audit line cannot be written is withheld: the call
  // fails UNAVAILABLE (the gateway answers 503 + Retry-After), nothing of
  // it is remembered for a retry, so no certificate leaves the signer
  // unaudited. Off: the failure is counted and the certificate delivered.
  bool audit_required = false;
  // Workers of their own for SignOcsp (not owned; null: the service's
  // pool): a flood of OCSP requests for distinct certificates then queues
  // there, and past that pool's queue is answered RESOURCE_EXHAUSTED at
  // once (the gateway answers 503 tryLater), while enrollment keeps every
  // worker of the main pool.
  base::ThreadPool* ocsp_pool = nullptr;
};

// The scep.signer.v1.Signer gRPC service (callback API). Each call's
// private-key work runs on `pool` so PKCS#11 latency never blocks gRPC's
// own threads; a full pool answers RESOURCE_EXHAUSTED at once, which the
// gateway turns into 503 + Retry-After.
class SignerService final : public v1::Signer::CallbackService {
 public:
  // Issuing CAs by name ("" = the default CA, required). Requests name one
  // in `issuing_ca`; an unknown name is NOT_FOUND.
  using IssuingCas = std::map<std::string, SignerCore*, std::less<>>;



  // The cores, `pool` and what `options` points to must outlive the
  // service.
  SignerService(IssuingCas cas, base::ThreadPool* pool, SignerServiceOptions options = {})
      : cas_(std::move(cas)),
        pool_(pool),
        metrics_(options.metrics),
        audit_(options.audit),
        rate_limit_(options.rate_limit),
        audit_required_(options.audit_required && options.audit != nullptr),
        ocsp_pool_(options.ocsp_pool != nullptr ? options.ocsp_pool : pool) {}
  // One CA only: the default.
  SignerService(SignerCore* core, base::ThreadPool* pool, SignerServiceOptions options = {})
      : SignerService(IssuingCas{{"", core}}, pool, options) {}

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
  grpc::ServerUnaryReactor* SignOcsp(grpc::CallbackServerContext* context,
                                     const v1::SignOcspRequest* request,
                                     v1::SignOcspResponse* response) override;
  grpc::ServerUnaryReactor* IssueCertRep(
      grpc::CallbackServerContext* context,
      const v1::IssueCertRepRequest* request,
      v1::IssueCertRepResponse* response) override;

 private:
  // Runs `work` on `pool` (null: the service's pool) and finishes the call
  // with its status, recorded under `method`. `key_operation` (a literal)
  // labels the PKCS#11 metrics.
  grpc::ServerUnaryReactor* Offload(grpc::CallbackServerContext* context,
                                    const char* method,
                                    const char* key_operation,
                                    std::function<absl::Status()> work,
                                    base::ThreadPool* pool = nullptr);
  // The CA `name` names, or nullptr.
  SignerCore* Find(absl::string_view name) const;
  // Finishes a call naming an unknown CA with NOT_FOUND.
  grpc::ServerUnaryReactor* UnknownCa(grpc::CallbackServerContext* context,
                                      const char* method, absl::string_view name);

  // OK, or RESOURCE_EXHAUSTED when the caller's issuance rate is spent.
  absl::Status CheckRate(grpc::CallbackServerContext* context, absl::string_view ca,
                         absl::string_view transaction_id, absl::string_view profile);
  // Counts and audits one issuance: the certificate signed, or the policy
  // refusal `cert` holds (other errors pass unrecorded). UNAVAILABLE when a
  // signed certificate must be withheld (audit_required, line not written).
  absl::Status Record(grpc::CallbackServerContext* context,
                      const v1::IssueCertificateRequest& issue,
                      absl::string_view transaction_id,
                      const absl::StatusOr<crypto::X509Ptr>& cert);

  const IssuingCas cas_;
  // A retry of a call whose caller gave up after the CA signed gets the
  // same certificate (see RecentIssuance).
  RecentIssuance recent_;
  base::ThreadPool* const pool_;
  SignerMetrics* const metrics_;
  IssuanceAudit* const audit_;
  CallerRateLimit* const rate_limit_;
  const bool audit_required_;
  base::ThreadPool* const ocsp_pool_;
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_SIGNER_SERVICE_H_
