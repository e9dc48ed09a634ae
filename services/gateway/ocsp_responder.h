#ifndef SCEP_SERVICES_GATEWAY_OCSP_RESPONDER_H_
#define SCEP_SERVICES_GATEWAY_OCSP_RESPONDER_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/redis/certificate_index.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/previous_ca_revocation.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// One CA the responder answers for; members not owned.
struct OcspIssuer {
  std::string name;  // "" = the default CA
  CaCertificates* certificates = nullptr;
  SignerClient* signer = nullptr;
  redis::CertificateIndex* index = nullptr;
};

struct OcspResponderOptions {
  // nextUpdate - thisUpdate of each answer: how long relying parties may
  // rely on it.
  absl::Duration validity = absl::Hours(1);
  // How long a signed answer is handed out again while no certificate was
  // revoked (a revocation anywhere makes every cached answer stale at once).
  absl::Duration reuse = absl::Minutes(5);
  std::function<absl::Time()> clock = absl::Now;
  // After a CA rollover: who signs for the CA certificates an issuing CA
  // replaced (CaSet::previous_cas), so that a CertID of a previous CA is
  // answered by it. Null: such CertIDs are `unauthorized`. Not owned.
  PreviousCaRevocation* previous_cas = nullptr;
};

// The OCSP responder (RFC 6960) of the gateway's CAs, each CA answering
// for itself with its own key through the signer (RFC 6960 section
// 4.2.2.2: no delegated responder certificate); after a CA rollover each
// previous CA certificate answers for itself too, with its own key.
// Statuses come from the certificate index: a serial that CA certificate
// issued is good or revoked, anything else unknown. A signed answer is reused (RFC 5019 section 2.2) for requests
// without a nonce; a request's nonce (RFC 8954) is echoed in an answer
// signed for it alone. Thread-safe.
class OcspResponder {
 public:
  OcspResponder(std::vector<OcspIssuer> issuers, OcspResponderOptions options);

  struct Answer {
    std::string der;      // DER OCSPResponse
    bool signed_answer;   // successful (else malformedRequest/unauthorized)
    absl::Duration fresh;  // how long it may be cached (GET)
    bool nonce = false;    // echoes the request's nonce (never cached)
  };

  // What Respond does with a request's nonce extension.
  enum class Nonce {
    kEcho,    // POST: echoed (RFC 8954), 1..32 octets or malformedRequest
    kIgnore,  // GET: left out, so that HTTP caches may keep the answer
  };

  // The answer to DER OCSPRequest `request`: successful when every
  // CertID (1..16, SHA-1 or SHA-256) names the same one of our CAs;
  // unauthorized for another issuer; malformedRequest otherwise
  // (InvalidArgument, with that answer in `*malformed`). Unavailable when
  // the index or the signer cannot answer now, except that while the index
  // is down an answer inside its reuse time is still reused.
  //
  // `before_signing`, when set, runs before an answer that needs a fresh
  // CA signature (not one reused); its error is returned as is, nothing
  // signed (the per-client limit of fresh signatures).
  //
  // With Nonce::kEcho, a request carrying a nonce is answered with a fresh
  // signature echoing it (through `before_signing`, never from or into the
  // reuse cache). When `before_signing` refuses it with ResourceExhausted
  // or the signer is Unavailable, the answer without the nonce is reused
  // if one is at hand (RFC 8954 section 2.1 allows leaving it out), else
  // that error is returned. A nonce that is not 1..32 octets, or two of
  // them: malformedRequest.
  absl::StatusOr<Answer> Respond(absl::string_view request, std::string* malformed,
                                 const std::function<absl::Status()>& before_signing = {},
                                 Nonce nonce = Nonce::kEcho);

  // The DER request of GET /ocsp/{url-encoded base64} (RFC 6960
  // appendix A.1); InvalidArgument when it does not decode.
  static absl::StatusOr<std::string> DecodeGetRequest(absl::string_view encoded);

  // The unsigned OCSPResponse with `status` (1 malformedRequest, 3
  // tryLater, 6 unauthorized).
  static std::string Unsigned(int status);

 private:
  struct Cached {
    int64_t generation = 0;
    std::string der;
    absl::Time produced;
  };

  const std::vector<OcspIssuer> issuers_;
  const OcspResponderOptions options_;
  std::mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_OCSP_RESPONDER_H_
