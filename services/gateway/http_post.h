#ifndef SCEP_SERVICES_GATEWAY_HTTP_POST_H_
#define SCEP_SERVICES_GATEWAY_HTTP_POST_H_

// A small blocking HTTP/1.1 client for the gateway's outgoing hooks (the
// external challenge verifier, issuance notices), bounded by a deadline
// for the whole exchange, over http:// or https:// (tls_client.h: the
// receiver's certificate chain and name verified, a client certificate
// where the profile gives one).

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/gateway/tls_client.h"

namespace scep::gateway {

class HookConnection;  // hook_connection.h

struct HttpUrl {
  std::string host, port, path;
  bool tls = false;  // https://
};

// "http[s]://host[:port]/path" (an IPv6 host in brackets);
// FailedPrecondition naming `setting` otherwise.
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view setting);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// POSTs `json` to `url` on a connection of its own and reads the whole
// answer (at most 64 KiB) by `deadline`. Unavailable, naming `peer`
// ("verifier", ...), when the peer cannot be reached, times out, fails the
// TLS handshake (its certificate not trusted, not for that host), or
// answers something that is not HTTP. An https:// URL needs `tls`.
absl::StatusOr<HttpAnswer> PostJson(const HttpUrl& url, absl::string_view json,
                                    absl::Time deadline, absl::string_view peer,
                                    TlsClientContext* tls = nullptr);

// POSTs over kept-alive connections, pooled per receiver (scheme, host,
// port and TLS settings): a stream of POSTs to one receiver costs no DNS
// lookup, TCP or TLS handshake or server-side connection set-up each.
// Thread-safe: concurrent POSTs each take a connection of their own, and
// at most `max_idle` per receiver are kept between them. A kept
// connection the receiver closed meanwhile is left when it shows closed,
// or replaced once per POST within its deadline when the POST on it fails
// before any answer; one whose answer says `Connection: close`, is
// HTTP/1.0, or has no Content-Length is closed after it.
class KeptAliveHttpClient {
 public:
  explicit KeptAliveHttpClient(size_t max_idle = 16);
  ~KeptAliveHttpClient();
  KeptAliveHttpClient(const KeptAliveHttpClient&) = delete;
  KeptAliveHttpClient& operator=(const KeptAliveHttpClient&) = delete;

  // As PostJson; `extra_headers`: further header lines, each ending in
  // CRLF ("X-Name: value\r\n").
  absl::StatusOr<HttpAnswer> Post(const HttpUrl& url, absl::string_view json,
                                  absl::Time deadline, absl::string_view peer,
                                  absl::string_view extra_headers = "",
                                  TlsClientContext* tls = nullptr);

  // Connections opened so far.
  size_t opened() const;

 private:
  std::unique_ptr<HookConnection> TakeIdle(const std::string& key);
  void KeepIdle(const std::string& key, std::unique_ptr<HookConnection> connection);
  void DropIdle(const std::string& key);

  const size_t max_idle_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<HookConnection>>> idle_
      ABSL_GUARDED_BY(mu_);
  size_t opened_ ABSL_GUARDED_BY(mu_) = 0;
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuoted(absl::string_view s);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HTTP_POST_H_
