#ifndef SCEP_SERVICES_GATEWAY_HTTP_POST_H_
#define SCEP_SERVICES_GATEWAY_HTTP_POST_H_

// A small blocking HTTP/1.1 client for the gateway's outgoing hooks (the
// external challenge verifier, issuance notices), bounded by a deadline
// for the whole exchange, plain http:// only (the hooks run inside the
// cluster; put a TLS sidecar in front otherwise).

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/container/flat_hash_map.h"
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

// POSTs `json` to `url` on a connection of its own and reads the whole
// answer (at most 64 KiB) by `deadline`. Unavailable, naming `peer` ("verifier", ...), when the peer
// cannot be reached, times out, or answers something that is not HTTP.
absl::StatusOr<HttpAnswer> PostJson(const HttpUrl& url, absl::string_view json,
                                    absl::Time deadline, absl::string_view peer);

// POSTs over kept-alive connections, one per host:port, for one thread
// (the notifier's): a stream of notices to one receiver costs no DNS
// lookup, TCP handshake or server-side connection set-up each. A kept
// connection the receiver closed meanwhile is replaced once per POST,
// within its deadline; one whose answer says `Connection: close`, is
// HTTP/1.0, or has no Content-Length is closed after it. Not thread-safe.
class KeptAliveHttpClient {
 public:
  KeptAliveHttpClient();
  ~KeptAliveHttpClient();
  KeptAliveHttpClient(const KeptAliveHttpClient&) = delete;
  KeptAliveHttpClient& operator=(const KeptAliveHttpClient&) = delete;

  // As PostJson; `extra_headers`: further header lines, each ending in
  // CRLF ("X-Name: value\r\n").
  absl::StatusOr<HttpAnswer> Post(const HttpUrl& url, absl::string_view json,
                                  absl::Time deadline, absl::string_view peer,
                                  absl::string_view extra_headers = "");

  // Connections opened so far.
  size_t opened() const { return opened_; }

 private:
  struct Connection;
  absl::flat_hash_map<std::string, std::unique_ptr<Connection>> connections_;
  size_t opened_ = 0;
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuoted(absl::string_view s);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_POST_H_
