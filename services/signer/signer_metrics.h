#ifndef SCEP_SERVICES_SIGNER_SIGNER_METRICS_H_
#define SCEP_SERVICES_SIGNER_SIGNER_METRICS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace scep::signer {

// The signer's Prometheus metrics, registered in an injected registry.
// Thread-safe. Names (all prefixed scep_signer_):
//   rpc_total{method,code}                 finished RPCs by gRPC status code
//   rpc_duration_seconds{method}           histogram, queueing included
//   queue_depth                            gauge: operations waiting for a worker
//   workers_busy                           gauge: workers (token sessions) in use
//   pkcs11_operations_total{key,operation,mechanism,result}  result: ok | error
//   pkcs11_duration_seconds{key,operation,mechanism}         histogram
//   pkcs11_cpu_seconds_total{key,operation,mechanism}        CPU time of the
//       calling thread inside key operations: with a software token
//       (SoftHSMv2) the private-key arithmetic itself, with a network HSM
//       the client library's share
//   certificates_issued_total
//   certificate_expiry_timestamp_seconds{ca,role}  notAfter (Unix seconds) of
//       the certificates the signer serves: `ca` "default" or the issuing CA's
//       name, `role` "ca", "ra", "next_ca" or "chain" (the first to expire of
//       the certificates above a CA under another root). Alert on it minus time()
//       (an expired RA certificate stops every enrollment).
//   token_login_refused{token}  gauge: 1 once the token refused the PIN
//       (the signer never logs in to it again until restarted), else 0
//   previous_ra_decryptions_total{ca}  requests encrypted to the previous RA
//       certificate (ra-previous.pem) after an RA renewal or key rollover;
//       flat for long enough: `scep-provision --drop-previous-ra`
// `key` is "ca" or "ra"; `operation` one of "decrypt", "sign_certificate",
// "sign_certrep", "sign_crl", "public_key", "private_key"; `mechanism` one
// of "rsa-pkcs1" (CKM_RSA_PKCS), "rsa-oaep" (CKM_RSA_PKCS_OAEP), "rsa-x509"
// (CKM_RSA_X_509: OAEP the token refused, unpadded in software), "ecdsa"
// (CKM_ECDSA), "none" (public key read) or "unknown".
class SignerMetrics {
 public:
  // `registry` is not owned and must outlive this object.
  explicit SignerMetrics(prometheus::Registry& registry);

  void RpcFinished(absl::string_view method, const absl::Status& status,
                   absl::Duration latency);
  void Queued() { queue_depth_.Increment(); }
  void Dequeued() { queue_depth_.Decrement(); }
  void WorkerBusy() { workers_busy_.Increment(); }
  void WorkerIdle() { workers_busy_.Decrement(); }
  void KeyOperation(absl::string_view key, absl::string_view operation,
                    absl::string_view mechanism, const absl::Status& status,
                    absl::Duration latency, absl::Duration cpu);
  void CertificateIssued() { issued_.Increment(); }
  // A request envelope addressed to the previous RA certificate of CA `ca`
  // (after an RA renewal or key rollover): when this stays flat, the
  // previous RA can be dropped.
  void PreviousRaDecryption(absl::string_view ca);
  void CertificateExpiry(absl::string_view ca, absl::string_view role,
                         absl::Time not_after);
  // The issuance policy of CA `ca` refused a certificate under `rule`
  // (PolicyRefusal::rule): a gateway asked for more than the CA allows.
  void IssuanceRefused(absl::string_view ca, absl::string_view rule);
  // An issuance refused by the per-caller rate limit.
  void IssuanceRateLimited() { rate_limited_.Increment(); }
  // An issuance audit line could not be written.
  void AuditWriteError() { audit_errors_.Increment(); }
  // A signed certificate withheld because its audit line was not written
  // (--audit_required).
  void CertificateWithheld() { withheld_.Increment(); }
  // Whether token `token` refused the signer's PIN (final until restart).
  void TokenLoginRefused(absl::string_view token, bool refused);
  // A SignOcsp call refused because the OCSP workers' queue was full.
  void OcspShed() { ocsp_shed_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Gauge& queue_depth_;
  prometheus::Gauge& workers_busy_;
  prometheus::Family<prometheus::Counter>& key_ops_;
  prometheus::Family<prometheus::Histogram>& key_duration_;
  prometheus::Family<prometheus::Counter>& key_cpu_;
  prometheus::Counter& issued_;
  prometheus::Family<prometheus::Gauge>& expiry_;
  prometheus::Family<prometheus::Counter>& previous_ra_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Counter& audit_errors_;
  prometheus::Counter& rate_limited_;
  prometheus::Counter& withheld_;
  prometheus::Counter& ocsp_shed_;
  prometheus::Family<prometheus::Gauge>& login_refused_;
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_SIGNER_METRICS_H_
