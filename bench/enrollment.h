#ifndef SCEP_BENCH_ENROLLMENT_H_
#define SCEP_BENCH_ENROLLMENT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/http_client.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::bench {

// What GetCACert returned. Our gateway sends CA + RA in a degenerate
// SignedData; micromdm scepserver sends its CA certificate alone, which
// then also serves as RA (RFC 8894 section 4.2.1).
struct ServerCerts {
  crypto::X509Ptr ca;
  crypto::X509Ptr ra;
  bool ca_is_ra = false;
};

// InvalidArgument when the GetCACert reply holds no usable certificate.
absl::StatusOr<ServerCerts> ParseGetCaCert(const HttpResponse& response);

// A device key with the self-signed certificate it signs requests with.
struct DeviceKey {
  crypto::EvpPkeyPtr key;
  crypto::X509Ptr cert;
};

// `count` RSA-2048 keys generated on `threads` threads.
absl::StatusOr<std::vector<DeviceKey>> GenerateDeviceKeys(int count, int threads);

struct BuildOptions {
  std::string challenge;
  // RenewalReq CSRs carry the challenge too (micromdm scepserver 2.1
  // refuses renewals without one; RFC 8894 authenticates them by the
  // current certificate alone).
  bool renew_with_challenge = false;
  std::string cipher = "aes-128-cbc";
  std::string digest = "sha256";
  std::string run_id;  // makes subjects unique across runs against one CA
};

// One prepared PKCSReq or RenewalReq and what its reply must match.
struct Enrollment {
  size_t key_index = 0;
  std::string common_name;
  std::string transaction_id;
  std::string sender_nonce;
  std::string request_der;
  // RenewalReq: the current certificate the request is signed with (the
  // reply is encrypted to it). Null: the key's self-signed certificate.
  crypto::X509Ptr signer_cert;
};

// `n` PKCSReqs with distinct subjects, transactionIDs and senderNonces,
// encrypted to `ra`, using the keys round robin. Built on `threads` threads.
absl::StatusOr<std::vector<Enrollment>> BuildEnrollments(
    size_t n, const std::vector<DeviceKey>& keys, X509* ra,
    const BuildOptions& options, int threads);

// Rebuilds the PKCSReq `e` with a fresh senderNonce: same transactionID,
// key and subject, so the server sees a retransmission of the same
// transaction (RFC 8894 section 3.3.1), not a replay. InvalidArgument for a
// RenewalReq; OpenSSL failures as Internal.
absl::Status RebuildWithFreshNonce(Enrollment& e, const DeviceKey& key, X509* ra,
                                   const BuildOptions& options);

// A CertPoll (RFC 8894 section 3.3.3) for the PKCSReq `e`: same
// transactionID, a fresh senderNonce, IssuerAndSubject naming the CA and
// the request's subject, signed with the key's self-signed certificate. Its
// reply is checked like the PKCSReq's (VerifyReply). InvalidArgument for a
// RenewalReq.
absl::StatusOr<Enrollment> BuildCertPoll(const Enrollment& e, const DeviceKey& key,
                                         const ServerCerts& server,
                                         const BuildOptions& options);

// For each enrolled device with its issued certificate (RFC 8894 section
// 3.3.1.2): a RenewalReq signed with that certificate and the same key,
// same subject, fresh transactionID and senderNonce; no challenge unless
// `options.renew_with_challenge`.
absl::StatusOr<std::vector<Enrollment>> BuildRenewals(
    const std::vector<Enrollment>& enrolled,
    std::vector<crypto::X509Ptr> issued, const std::vector<DeviceKey>& keys,
    X509* ra, const BuildOptions& options, int threads);

// Checks one PKIOperation reply: HTTP 200, CertRep signed by the RA,
// SUCCESS, transactionID and recipientNonce echoed, envelope decrypts with
// the device key, an issued certificate carries the device's public key and
// requested CN and chains to the CA. Returns "" when all holds, otherwise a
// short failure kind ("http_503", "failInfo_badRequest", "pending",
// "verify_chain", ...); `detail` receives a human-readable reason and, on
// success, `issued` (when not null) the issued certificate.
std::string VerifyReply(const Enrollment& enrollment, const DeviceKey& key,
                        const ServerCerts& server, const HttpResponse& reply,
                        std::string* detail, crypto::X509Ptr* issued = nullptr);

}  // namespace scep::bench

#endif  // SCEP_BENCH_ENROLLMENT_H_
