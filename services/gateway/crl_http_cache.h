#ifndef SCEP_SERVICES_GATEWAY_CRL_HTTP_CACHE_H_
#define SCEP_SERVICES_GATEWAY_CRL_HTTP_CACHE_H_

// HTTP caching of the CRLs /crl/... serves to relying parties: how long a
// cache may keep one (never past its nextUpdate), and conditional requests
// (ETag / If-None-Match, Last-Modified / If-Modified-Since) so a RADIUS
// server or VPN concentrator polling a large CRL downloads it only when it
// changed.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/gateway/http/http_server.h"

namespace scep::gateway {

// What the caching headers of one CRL are made of.
struct CrlValidators {
  std::string etag;  // quoted strong validator: a digest of the DER
  absl::Time this_update = absl::InfinitePast();
  absl::Time next_update = absl::InfinitePast();  // InfinitePast: unreadable
};

// Validators of each CRL served, worked out once per CRL (a digest and a
// parse of several megabytes, not one per request): the kept CRL is one
// shared string until a new CRL replaces it. Thread-safe.
class CrlValidatorCache {
 public:
  CrlValidators Of(const std::shared_ptr<const std::string>& der);

 private:
  struct Entry {
    std::weak_ptr<const std::string> der;
    CrlValidators validators;
  };
  absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);  // CRLs still served
};

// Adds ETag, Last-Modified and Cache-Control to `response` (a 200 with the
// CRL), max-age at most `max_age` and never past nextUpdate ("no-cache" at
// or after it); turns it into 304 Not Modified without a body when
// `request` names this CRL (If-None-Match, else If-Modified-Since).
void ApplyCrlCaching(const CrlValidators& crl, const HttpRequest& request, absl::Time now,
                     absl::Duration max_age, HttpResponse& response);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CRL_HTTP_CACHE_H_
