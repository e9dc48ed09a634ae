#include "services/signer/signer_metrics.h"

#include <string>

namespace scep::signer {
namespace {

const prometheus::Histogram::BucketBoundaries& Buckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  return *kBuckets;
}

}  // namespace

SignerMetrics::SignerMetrics(prometheus::Registry& registry)
    : rpcs_(prometheus::BuildCounter()
                .Name("scep_signer_rpc_total")
                .Help("Finished signer RPCs by method and gRPC status code.")
                .Register(registry)),
      rpc_duration_(prometheus::BuildHistogram()
                        .Name("scep_signer_rpc_duration_seconds")
                        .Help("Signer RPC latency, worker queueing included.")
                        .Register(registry)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("scep_signer_queue_depth")
                       .Help("Private-key operations waiting for a worker.")
                       .Register(registry)
                       .Add({})),
      workers_busy_(prometheus::BuildGauge()
                        .Name("scep_signer_workers_busy")
                        .Help("Workers (each with its token session) running "
                              "an operation.")
                        .Register(registry)
                        .Add({})),
      key_ops_(prometheus::BuildCounter()
                   .Name("scep_signer_pkcs11_operations_total")
                   .Help("PKCS#11 key operations by key, operation, mechanism and result.")
                   .Register(registry)),
      key_duration_(prometheus::BuildHistogram()
                        .Name("scep_signer_pkcs11_duration_seconds")
                        .Help("PKCS#11 key operation latency.")
                        .Register(registry)),
      key_cpu_(prometheus::BuildCounter()
                   .Name("scep_signer_pkcs11_cpu_seconds_total")
                   .Help("CPU time of the calling thread inside PKCS#11 key "
                         "operations (a software token's arithmetic; a "
                         "network HSM client's share).")
                   .Register(registry)),
      issued_(prometheus::BuildCounter()
                  .Name("scep_signer_certificates_issued_total")
                  .Help("Certificates signed with the CA key.")
                  .Register(registry)
                  .Add({})),
      expiry_(prometheus::BuildGauge()
                  .Name("scep_signer_certificate_expiry_timestamp_seconds")
                  .Help("notAfter of the CA, RA and next CA certificates the "
                        "signer serves, as Unix time.")
                  .Register(registry)),
      previous_ra_(prometheus::BuildCounter()
                       .Name("scep_signer_previous_ra_decryptions_total")
                       .Help("Request envelopes addressed to the previous RA "
                             "certificate (after an RA renewal or key rollover).")
                       .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("scep_signer_issuance_refused_total")
                   .Help("Certificates the CA's issuance policy refused to sign, "
                         "by CA and rule.")
                   .Register(registry)),
      audit_errors_(prometheus::BuildCounter()
                        .Name("scep_signer_audit_write_errors_total")
                        .Help("Issuance audit lines that could not be written.")
                        .Register(registry)
                        .Add({})),
      rate_limited_(prometheus::BuildCounter()
                        .Name("scep_signer_issuance_rate_limited_total")
                        .Help("Issuance requests refused by the per-caller rate limit "
                              "(--max_issuance_per_minute).")
                        .Register(registry)
                        .Add({})),
      withheld_(prometheus::BuildCounter()
                    .Name("scep_signer_certificates_withheld_total")
                    .Help("Certificates signed but withheld because their audit line "
                          "could not be written (--audit_required).")
                    .Register(registry)
                    .Add({})),
      ocsp_shed_(prometheus::BuildCounter()
                     .Name("scep_signer_ocsp_shed_total")
                     .Help("SignOcsp calls refused at once because the OCSP workers' "
                           "queue (--ocsp_max_queue) was full (the gateway answers 503 "
                           "tryLater).")
                     .Register(registry)
                     .Add({})),
      login_refused_(prometheus::BuildGauge()
                         .Name("scep_signer_token_login_refused")
                         .Help("1 once the token refused the signer's PIN (CKR_PIN_INCORRECT, "
                               "_LOCKED, _EXPIRED): no further login until restarted.")
                         .Register(registry)) {}

void SignerMetrics::TokenLoginRefused(absl::string_view token, bool refused) {
  login_refused_.Add({{"token", std::string(token)}}).Set(refused ? 1 : 0);
}

void SignerMetrics::IssuanceRefused(absl::string_view ca, absl::string_view rule) {
  refused_.Add({{"ca", std::string(ca)}, {"rule", std::string(rule)}}).Increment();
}

void SignerMetrics::PreviousRaDecryption(absl::string_view ca) {
  previous_ra_.Add({{"ca", std::string(ca)}}).Increment();
}

void SignerMetrics::CertificateExpiry(absl::string_view ca, absl::string_view role,
                                      absl::Time not_after) {
  expiry_.Add({{"ca", std::string(ca)}, {"role", std::string(role)}})
      .Set(static_cast<double>(absl::ToUnixSeconds(not_after)));
}

void SignerMetrics::RpcFinished(absl::string_view method,
                                const absl::Status& status,
                                absl::Duration latency) {
  const std::string m(method);
  rpcs_.Add({{"method", m}, {"code", absl::StatusCodeToString(status.code())}})
      .Increment();
  rpc_duration_.Add({{"method", m}}, Buckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void SignerMetrics::KeyOperation(absl::string_view key,
                                 absl::string_view operation,
                                 absl::string_view mechanism,
                                 const absl::Status& status,
                                 absl::Duration latency, absl::Duration cpu) {
  const std::string k(key), op(operation), mech(mechanism);
  key_ops_
      .Add({{"key", k},
            {"operation", op},
            {"mechanism", mech},
            {"result", status.ok() ? "ok" : "error"}})
      .Increment();
  key_duration_.Add({{"key", k}, {"operation", op}, {"mechanism", mech}}, Buckets())
      .Observe(absl::ToDoubleSeconds(latency));
  key_cpu_.Add({{"key", k}, {"operation", op}, {"mechanism", mech}})
      .Increment(absl::ToDoubleSeconds(cpu));
}

}  // namespace scep::signer
