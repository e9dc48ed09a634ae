#ifndef SCEP_SERVICES_GATEWAY_CLIENT_ADDRESS_H_
#define SCEP_SERVICES_GATEWAY_CLIENT_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/gateway/http/http_server.h"

namespace scep::gateway {

// The proxies (load balancers, ingress controllers) whose X-Forwarded-For
// the gateway believes, as address ranges. Behind an ingress every device
// arrives from the ingress's address; per-client rate limits and the
// `client` of log lines need the device's. Immutable; thread-safe.
class TrustedProxies {
 public:
  // Comma-separated IPv4/IPv6 addresses or CIDR ranges ("10.0.0.0/8,
  // fd00::/8, 192.0.2.1"); "" trusts no one. InvalidArgument naming the
  // bad entry.
  static absl::StatusOr<TrustedProxies> Parse(absl::string_view list);

  // The client's IP address (no port) for `request`: the peer address,
  // unless the peer is trusted, in which case X-Forwarded-For is read from
  // right to left, skipping trusted hops, and the first untrusted address
  // is the client. A malformed entry ends the walk at the hop that reported
  // it (a spoofed header cannot name an arbitrary client past a trusted
  // proxy). IPv6 results are bare (no brackets).
  std::string ClientOf(const HttpRequest& request) const;

  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    int family = 0;  // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};
    int prefix_bits = 0;
  };
  bool Trusted(absl::string_view ip) const;

  std::vector<Range> ranges_;
};

// The address of "ip:port" / "[ip6]:port" without the port; the input as
// is when it has none.
std::string HostOf(absl::string_view address);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CLIENT_ADDRESS_H_
