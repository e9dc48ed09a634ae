#ifndef SCEP_SERVICES_GATEWAY_HTTP_POST_H_
#define SCEP_SERVICES_GATEWAY_HTTP_POST_H_

// A small blocking HTTP/1.1 client for the gateway's outgoing hooks (the
// external challenge verifier, issuance notices): one POST per connection,
// bounded by a deadline for the whole exchange, plain http:// only (the
// hooks run inside the cluster; put a TLS sidecar in front otherwise).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::gateway {

struct HttpUrl {
  std::string host, port, path;
};

// "http://host[:port]/path"; FailedPrecondition naming `setting` otherwise.
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view setting);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// POSTs `json` to `url` and reads the whole answer (at most 64 KiB) by
// `deadline`. Unavailable, naming `peer` ("verifier", ...), when the peer
// cannot be reached, times out, or answers something that is not HTTP.
absl::StatusOr<HttpAnswer> PostJson(const HttpUrl& url, absl::string_view json,
                                    absl::Time deadline, absl::string_view peer);

// `s` as a JSON string literal, quotes included.
std::string JsonQuoted(absl::string_view s);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_POST_H_
