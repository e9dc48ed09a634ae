#ifndef SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
#define SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics/json_log.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/ocsp_responder.h"
#include "services/gateway/previous_ca_revocation.h"
#include "services/gateway/client_address.h"
#include "services/gateway/crl_http_cache.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/pki_operation.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

// A further issuing CA, named by Profile::issuing_ca: the signer bound to
// that CA, the certificate index as that CA sees it (its CRL, its revoked
// serials) and its published certificates. Not owned.
struct IssuingCaDeps {
  SignerClient* signer = nullptr;
  redis::CertificateIndex* index = nullptr;
  CaCertificates* certificates = nullptr;
};

struct ScepServiceOptions {
  // The profiles served at /scep/{name}, the first also at /scep; not owned.
  // Null: the single `profile` below.
  const ProfileSet* profiles = nullptr;
  Profile profile;
  PkiOperationOptions pki;
  PkiExtras extras;  // one-time challenges, approval, external verifier
  int retry_after_seconds = 5;
  // Issuing CAs other than the default (the constructor's signer, index and
  // certificates), by name. A profile naming a CA missing here is answered
  // 500; main refuses to start with one.
  std::map<std::string, IssuingCaDeps, std::less<>> issuing_cas;
  // OCSP (RFC 6960) at /ocsp: how long an answer is valid (nextUpdate)
  // and how long a signed answer is reused while nothing was revoked.
  absl::Duration ocsp_validity = absl::Hours(1);
  absl::Duration ocsp_reuse = absl::Minutes(5);
  // OCSP answers needing a fresh CA signature per client address and
  // minute (reused answers are not counted); over it 429 + Retry-After.
  // 0: no limit. Needs extras.rate_limiter.
  int ocsp_fresh_per_client_per_minute = 600;
  // After a CA rollover, the certificate index view holding the cached CRL
  // of a previous CA key (RedisCertificateIndex::New's crl_key_id); null:
  // kept in each gateway's memory (NewSeparateCrlIndex).
  PreviousCaRevocation::IndexFactory previous_ca_crl_index;
  // CA key identifiers (crypto::CaKeyId, lower-case hex) whose CRL
  // /crl/{ca}.crl serves once they are a previous CA of {ca}: certificates
  // issued before a CA rollover carry that URL (gateway
  // --crl_legacy_path_keys). Until then, and for other CAs, the current
  // CA's CRL.
  std::vector<std::string> crl_legacy_path_keys;
  // Whose X-Forwarded-For names the client (per-client rate limits, the
  // `client` of log lines); empty: the peer address is the client.
  TrustedProxies trusted_proxies;
};

// Optional observers of every request; null members are skipped. Not owned;
// they must outlive the service.
struct ScepServiceObservers {
  GatewayMetrics* metrics = nullptr;
  // One JSON line per request: operation, profile, transaction_id,
  // message_type, outcome, http_status, latency_ms, client. Never a secret.
  metrics::JsonLogger* log = nullptr;
};

// True for requests ScepService answers from memory, never waiting on the
// signer or Redis: GetCACaps, GetCACert and GetNextCACert (RFC 8894
// sections 3.5.1, 4.2, 4.7), so the HTTP server can run them apart from
// PKIOperations (HttpServerOptions::is_quick). Cheap and thread-safe.
bool NeverBlocks(const HttpRequest& request);

// The device-facing SCEP HTTP binding (RFC 8894 section 4): routes
// `GET|POST /scep[/{profile}]?operation=...` to GetCACaps, GetCACert and
// PKIOperation. Malformed requests get 400, unknown paths 404, other
// methods 405, an unavailable signer or Redis 503 with Retry-After.
// Thread-safe; dependencies are not owned.
class ScepService {
 public:
  ScepService(ScepServiceOptions options, SignerClient* signer,
              redis::EnrollmentStore* store, redis::CertificateIndex* index,
              CaCertificates* certificates,
              ScepServiceObservers observers = {});

  // Answers one request and reports it to the observers.
  HttpResponse Handle(const HttpRequest& request);

  // The GetCACaps body for the default profile, or for `profile`.
  std::string Capabilities() const;
  std::string Capabilities(const Profile& profile) const;

 private:
  // What Handle learns about a request for metrics and the log line.
  struct Record {
    RequestLabels labels;
    std::string transaction_id;  // log only, never a label
    std::string detail;          // PkiOutcome::summary, log only
    bool retransmission = false;  // PkiOutcome::retransmission, log only
  };

  HttpResponse Route(const HttpRequest& request, Record& record);
  void Report(const HttpRequest& request, const Record& record,
              absl::Duration latency);
  // One issuing CA's certificates and PKIOperation handler.
  struct Ca {
    CaCertificates* certificates = nullptr;
    std::unique_ptr<PkiOperation> pki;
    SignerClient* signer = nullptr;
    redis::CertificateIndex* index = nullptr;
  };
  // A text/plain answer.
  static HttpResponse Text(int status, absl::string_view text);
  // The CA of `profile`, or nullptr when it is not configured.
  const Ca* CaOf(const Profile& profile) const;
  HttpResponse GetCaCert(const Ca& ca);
  // Relying parties' revocation and issuer lookups (the URIs a profile's
  // crl_distribution_points / ca_issuers name): GET|HEAD /crl/{ca}.crl (DER
  // CRL) and /ca/{ca}.crt (DER CA certificate), {ca} "default" or an
  // issuing CA's name, and per CA key, current or previous (after a CA
  // rollover), /crl/{ca}/{keyid}.crl and /ca/{ca}/{keyid}.crt, {keyid} the
  // key's crypto::CaKeyId. nullopt when `request` is for neither.
  std::optional<HttpResponse> Publication(const HttpRequest& request, Record& record);
  // The CRL of `ca`'s key `key_id` ("" = the current key, or the one
  // crl_legacy_path_keys names), or of a previous CA key: NotFound for a
  // key `ca` does not have.
  absl::StatusOr<std::shared_ptr<const std::string>> CrlOf(const std::string& name,
                                                           const Ca& ca,
                                                           absl::string_view key_id);
  HttpResponse GetNextCaCert(const Ca& ca);
  // HTTP 429 (Retry-After) when the client or the profile is over its
  // limit, 503 when the limiter is down; nullopt to go on.
  std::optional<HttpResponse> RateLimit(const HttpRequest& request,
                                        const Profile& profile);
  // The profile a path names, or nullptr.
  const Profile* FindProfile(absl::string_view path) const;
  HttpResponse PkiOperationRequest(const HttpRequest& request,
                                   const Profile& profile,
                                   const std::string& message_param,
                                   const Ca& ca, Record& record);

  const ScepServiceOptions options_;
  const ScepServiceObservers observers_;
  std::map<std::string, Ca, std::less<>> cas_;  // "" = the default CA
  std::unique_ptr<PreviousCaRevocation> previous_cas_;  // before ocsp_, which uses it
  CrlValidatorCache crl_validators_;  // ETag etc. of each CRL served
  std::unique_ptr<OcspResponder> ocsp_;
  // POST /ocsp and GET /ocsp/{base64} (RFC 6960 appendix A).
  HttpResponse Ocsp(const HttpRequest& request, absl::string_view encoded);
};

// The base64 `message` of a GET PKIOperation: standard or URL-safe alphabet,
// padded or not, with '+' possibly turned into ' ' on the way.
absl::StatusOr<std::string> DecodeMessageParam(absl::string_view value);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
