#ifndef SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_
#define SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/codec/scep_types.h"
#include "common/redis/certificate_index.h"
#include "scep/signer/v1/signer.grpc.pb.h"

namespace scep::gateway {

// The parts of the CA's issuance policy (enforced by the signer) that a
// profile fixes; empty fields: no bound.
struct IssuanceBounds {
  int max_validity_days = 0;
  std::vector<std::string> allowed_key_usage;           // names
  std::vector<std::string> allowed_extended_key_usage;  // dotted OIDs
  std::vector<std::string> allowed_digests;
  bool operator==(const IssuanceBounds&) const = default;
};

struct CaCertificatesDer {
  std::string ca;  // DER
  std::string ra;  // DER
  std::string next_ca;          // DER; empty without CA rollover
  std::string next_ca_message;  // GetNextCACert answer, RA-signed
  std::vector<std::string> ca_chain;  // DER, above the CA up to the root
  IssuanceBounds bounds;
  // DER each: the CA certificates this CA replaced in a rollover.
  std::vector<std::string> previous_cas;
};

// What the CA key signs for one certificate: the CSR plus the profile's
// policy (empty fields: the CSR's subject/SAN, the signer's defaults).
struct IssueRequest {
  std::string csr;  // DER PKCS#10
  int validity_days = 0;
  std::string digest;
  std::string subject;           // DER Name
  std::string subject_alt_name;  // DER GeneralNames
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  std::vector<std::string> crl_distribution_points;  // URIs; empty: none
  std::vector<std::string> ca_issuers;               // URIs; empty: none
  std::vector<std::string> ocsp_urls;                // URIs; empty: none
  std::string profile;  // the profile's name, for the signer's audit trail
};

// The SUCCESS CertRep that carries a certificate issued in the same call.
struct CertRepRequest {
  codec::ScepAttributes attributes;   // pki_status SUCCESS, nonces, tid
  std::string digest;                 // the request's digest
  std::string recipient_certificate;  // DER: the request's signer certificate
  std::string cipher;                 // the request's content cipher
};

struct IssuedCertRep {
  std::string certificate;  // DER
  std::string pki_message;  // DER CertRep
  std::string serial_hex;   // codec::SerialHex
  absl::Time not_after;
  // Set by ProfileIssuer: whether the certificate index recorded it (not
  // OK: Redis refused it or it waits in the write journal).
  absl::Status indexed;
};

// What the CA key signs for GetCRL (RFC 5280 v2 CRL).
struct CrlRequest {
  std::vector<redis::RevokedSerial> revoked;
  uint64_t number = 0;
  absl::Time this_update;
  absl::Time next_update;
  // After a CA rollover: the SHA-256 of the previous CA certificate whose
  // key signs (crypto::CertificateSha256); "" = the current CA.
  std::string ca_certificate_sha256;
};

// What the CA key signs for an OCSP request (RFC 6960).
struct OcspSingle {
  enum class Kind { kGood, kRevoked, kUnknown };
  std::string serial;  // big-endian magnitude
  Kind kind = Kind::kUnknown;
  absl::Time revoked_at;
  int reason = -1;
};
struct OcspSignRequest {
  std::string cert_id_digest;  // "sha1" or "sha256"
  std::vector<OcspSingle> statuses;
  absl::Time this_update;
  absl::Time next_update;
  std::string nonce;  // the request's nonce extnValue, echoed; "" none
  // Which CA answers, as CrlRequest::ca_certificate_sha256.
  std::string ca_certificate_sha256;
};

// The gateway's view of the signer: one call per private-key operation.
// Every "signer cannot answer now" condition (down, deadline, overloaded)
// is Unavailable so the caller can answer 503; other codes mean the signer
// refused the input. Thread-safe.
class SignerClient {
 public:
  virtual ~SignerClient() = default;
  virtual absl::StatusOr<CaCertificatesDer> GetCertificates() = 0;
  virtual absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) = 0;
  virtual absl::StatusOr<std::string> Issue(const IssueRequest& request) = 0;
  virtual absl::StatusOr<std::string> SignCertRep(
      absl::string_view content, const codec::ScepAttributes& attributes,
      absl::string_view digest) = 0;
  // DER CRL signed by the CA key.
  virtual absl::StatusOr<std::string> SignCrl(const CrlRequest& request) = 0;
  // DER OCSPResponse (successful) signed by the CA key.
  virtual absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) = 0;
  // Issue, then a SUCCESS CertRep with the certificate encrypted to the
  // requester. The gRPC client makes one call of it (IssueCertRep); this
  // default composes Issue and SignCertRep.
  virtual absl::StatusOr<IssuedCertRep> IssueCertRep(const IssueRequest& issue,
                                                     const CertRepRequest& reply);
};

inline constexpr absl::Duration kMinSignerKeepalive = absl::Seconds(1);

struct GrpcSignerOptions {
  // gRPC target; "dns:///signer:9090" spreads calls over every address
  // (round_robin), as behind a headless Kubernetes service.
  std::string target = "dns:///127.0.0.1:9090";
  // Per call, retries included.
  absl::Duration deadline = absl::Seconds(5);
  // Attempts per call (first one included) while the signer answers
  // UNAVAILABLE, with exponential backoff from 100 ms to 1 s; gRPC retry
  // throttling stops retrying when most calls fail. 1 = no retries.
  int max_attempts = 4;
  // An HTTP/2 PING on each connection to a signer this often (zero: off);
  // a connection whose PING gets no answer within `keepalive_timeout` is
  // closed, and calls go to the other signers while it reconnects. Without
  // it a signer that goes silent (its node lost power or network: no reset
  // ever comes) keeps its share of calls, each waiting out the deadline,
  // until TCP gives up (about 15 minutes). At least kMinSignerKeepalive:
  // the signer accepts a PING every 0.5 s at most.
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration keepalive_timeout = absl::Seconds(5);

  // TLS to the signer. `tls_ca` (PEM roots for the signer's certificate) is
  // required for TLS; `tls_cert` and `tls_key` (PEM) go together and make it
  // mutual. The files are watched and reloaded when they change (certificate
  // rotation without restart).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // Name checked in the signer's certificate instead of the target's host.
  std::string tls_server_name;
  absl::Duration tls_refresh = absl::Seconds(60);
  // Plaintext, for local use only; must be set explicitly and excludes TLS.
  bool insecure_plaintext = false;
  // The signer's issuing CA every call of this client names; "" = default.
  std::string issuing_ca;
};

// Production client over the generated stub. `stub` may be a mock in tests.
// Every call names `issuing_ca` ("" = the signer's default CA).
std::unique_ptr<SignerClient> NewGrpcSignerClient(
    std::unique_ptr<signer::v1::Signer::StubInterface> stub,
    absl::Duration deadline, std::string issuing_ca = "");

// Channel + stub for `options`. FailedPrecondition when neither TLS nor
// insecure_plaintext is configured, when both are, when only one of
// tls_cert/tls_key is set, or when a TLS file cannot be read.
absl::StatusOr<std::unique_ptr<SignerClient>> NewGrpcSignerClient(
    const GrpcSignerOptions& options);

// Interval of gRPC's client-channel backup poller set by
// PrepareGrpcClientPolling (gRPC's default: 5000 ms).
inline constexpr int kBackupPollIntervalMs = 100;

// Call first thing in main(), before any gRPC object exists. A blocking
// gRPC client polls its connections only while a call is waiting; our calls
// fail fast (503 + Retry-After) while the signer is down, so after a
// restart nobody polls the reconnect attempt and gRPC notices it only when
// its backup poller runs, every 5 s by default: devices got 503s for 5-7 s
// after the signer was ready again. This sets
// GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS to kBackupPollIntervalMs
// unless the environment already sets it. Returns the value in effect.
std::string PrepareGrpcClientPolling();

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_
