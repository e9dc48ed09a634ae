#ifndef SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
#define SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_

#include <string>

#include "common/metrics/json_log.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/pki_operation.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

struct ScepServiceOptions {
  // The profiles served at /scep/{name}, the first also at /scep; not owned.
  // Null: the single `profile` below.
  const ProfileSet* profiles = nullptr;
  Profile profile;
  PkiOperationOptions pki;
  PkiExtras extras;  // one-time challenges, approval, external verifier
  int retry_after_seconds = 5;
};

// Optional observers of every request; null members are skipped. Not owned;
// they must outlive the service.
struct ScepServiceObservers {
  GatewayMetrics* metrics = nullptr;
  // One JSON line per request: operation, profile, transaction_id,
  // message_type, outcome, http_status, latency_ms, client. Never a secret.
  metrics::JsonLogger* log = nullptr;
};

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
  };

  HttpResponse Route(const HttpRequest& request, Record& record);
  void Report(const HttpRequest& request, const Record& record,
              absl::Duration latency);
  HttpResponse GetCaCert();
  HttpResponse GetNextCaCert();
  // HTTP 429 (Retry-After) when the client or the profile is over its
  // limit, 503 when the limiter is down; nullopt to go on.
  std::optional<HttpResponse> RateLimit(const HttpRequest& request,
                                        const Profile& profile);
  // The profile a path names, or nullptr.
  const Profile* FindProfile(absl::string_view path) const;
  HttpResponse PkiOperationRequest(const HttpRequest& request,
                                   const Profile& profile,
                                   const std::string& message_param,
                                   Record& record);

  const ScepServiceOptions options_;
  CaCertificates* const certificates_;
  const ScepServiceObservers observers_;
  PkiOperation pki_operation_;
};

// The base64 `message` of a GET PKIOperation: standard or URL-safe alphabet,
// padded or not, with '+' possibly turned into ' ' on the way.
absl::StatusOr<std::string> DecodeMessageParam(absl::string_view value);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
