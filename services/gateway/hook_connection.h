#ifndef SCEP_SERVICES_GATEWAY_HOOK_CONNECTION_H_
#define SCEP_SERVICES_GATEWAY_HOOK_CONNECTION_H_

// One connection of the gateway's HTTP client to a hook (http_post.h):
// TCP, with TLS over it for https:// (the receiver's chain and name
// verified by the TlsClientContext). Every call is bounded by the caller's
// deadline; errors are Unavailable naming `peer` and saying why.

#include <openssl/ssl.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/gateway/http_post.h"
#include "services/gateway/tls_client.h"

namespace scep::gateway {

class HookConnection {
 public:
  HookConnection() = default;
  ~HookConnection();
  HookConnection(const HookConnection&) = delete;
  HookConnection& operator=(const HookConnection&) = delete;

  // Connects (and shakes hands for https://, which needs `tls`).
  absl::Status Open(const HttpUrl& url, TlsClientContext* tls, absl::Time deadline,
                    absl::string_view peer);
  absl::Status Send(absl::string_view data, absl::Time deadline, absl::string_view peer);
  // Bytes read into `buf`; 0 when the peer closed the connection.
  absl::StatusOr<size_t> Read(char* buf, size_t size, absl::Time deadline,
                              absl::string_view peer);
  // An idle kept connection the peer closed (or sent anything unasked on)
  // shows readable: it cannot carry another request.
  bool ShowsClosed() const;

 private:
  void QuickAck() const;
  absl::Status Handshake(const std::string& host, TlsClientContext* tls, absl::Time deadline,
                         absl::string_view peer);
  // After a TLS call returned `error`: waits for what it wants, or says
  // why it failed ("<peer> <what>: <reason>").
  absl::Status WaitFor(int error, absl::Time deadline, absl::string_view peer,
                       absl::string_view what);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool handshaken_ = false;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_HOOK_CONNECTION_H_
