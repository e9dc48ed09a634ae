#ifndef SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
#define SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_

#include <string>

#include "services/gateway/ca_certificates.h"
#include "services/gateway/http/http_server.h"
#include "services/gateway/pki_operation.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

struct ScepServiceOptions {
  Profile profile;  // served at /scep and /scep/{profile.name}
  PkiOperationOptions pki;
  int retry_after_seconds = 5;
};

// The device-facing SCEP HTTP binding (RFC 8894 section 4): routes
// `GET|POST /scep[/{profile}]?operation=...` to GetCACaps, GetCACert and
// PKIOperation. Malformed requests get 400, unknown paths 404, other
// methods 405, an unavailable signer or Redis 503 with Retry-After.
// Thread-safe; dependencies are not owned.
class ScepService {
 public:
  ScepService(ScepServiceOptions options, SignerClient* signer,
              redis::EnrollmentStore* store, CaCertificates* certificates);

  HttpResponse Handle(const HttpRequest& request);

  // The GetCACaps body for the configured profile.
  std::string Capabilities() const;

 private:
  HttpResponse GetCaCert();
  HttpResponse PkiOperationRequest(const HttpRequest& request,
                                   const std::string& message_param);

  const ScepServiceOptions options_;
  CaCertificates* const certificates_;
  PkiOperation pki_operation_;
};

// The base64 `message` of a GET PKIOperation: standard or URL-safe alphabet,
// padded or not, with '+' possibly turned into ' ' on the way.
absl::StatusOr<std::string> DecodeMessageParam(absl::string_view value);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_SCEP_SERVICE_H_
