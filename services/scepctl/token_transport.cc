#include "services/scepctl/token_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace scep::scepctl {
namespace {

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost") || absl::EqualsIgnoreCase(host, "localhost.")) {
    return true;
  }
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

// The host of "host:port", "[v6]:port", "[v6]", a bare IPv6 literal or a
// bare host.
absl::string_view HostOf(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "[")) {
    const size_t close = address.find(']');
    return close == absl::string_view::npos ? absl::string_view() : address.substr(0, close);
  }
  const size_t first = address.find(':');
  if (first == absl::string_view::npos) return address;
  if (address.find(':', first + 1) != absl::string_view::npos) return address;  // "::1"
  return address.substr(0, first);
}

}  // namespace

bool IsLoopbackTarget(absl::string_view server) {
  server = absl::StripAsciiWhitespace(server);
  if (absl::StartsWith(server, "unix:") || absl::StartsWith(server, "unix-abstract:")) {
    return true;
  }
  // ipv4:a:port,b:port and ipv6:[a]:port,...: every address must be local.
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::ConsumePrefix(&server, scheme)) {
      const std::vector<absl::string_view> addresses = absl::StrSplit(server, ',');
      for (absl::string_view address : addresses) {
        if (!IsLoopbackHost(HostOf(address))) return false;
      }
      return !addresses.empty();
    }
  }
  // dns:///host:port, dns://resolver/host:port: the host is what counts.
  if (absl::ConsumePrefix(&server, "dns:")) {
    if (absl::ConsumePrefix(&server, "//")) {
      const size_t slash = server.find('/');
      if (slash == absl::string_view::npos) return false;
      server.remove_prefix(slash + 1);
    }
  }
  return IsLoopbackHost(HostOf(server));
}

absl::Status CheckTokenTransport(const CliArgs& args, absl::string_view server,
                                 bool has_token) {
  if (!has_token || args.Has("tls-ca") || args.Has("insecure") || IsLoopbackTarget(server)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing to send the bearer token in clear to ", server,
      ": use TLS (--tls-ca), or --insecure when a TLS-terminating proxy or a tunnel "
      "carries the connection (plaintext is allowed without it only to 127.0.0.1, ::1 "
      "or localhost)"));
}

}  // namespace scep::scepctl
