#ifndef SCEP_SERVICES_SCEPCTL_TOKEN_TRANSPORT_H_
#define SCEP_SERVICES_SCEPCTL_TOKEN_TRANSPORT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/scepctl/cli_args.h"

namespace scep::scepctl {

// True when the gRPC target `server` ("host:port", "[::1]:port",
// "dns:///host:port", "ipv4:127.0.0.1:port", "unix:/path") can only reach
// this machine: 127.0.0.0/8, ::1 (or ::ffff:127.x.x.x), "localhost", or a
// Unix socket. Anything else, names that merely resolve to loopback
// included, is false.
bool IsLoopbackTarget(absl::string_view server);

// Whether a call to `server` may carry the bearer token (`has_token`)
// as `args` sets up the channel: always over TLS (--tls-ca); in clear only
// to a loopback target (IsLoopbackTarget: a kubectl port-forward, the
// gateway's pod) or with --insecure (a TLS-terminating proxy on the path).
// InvalidArgument (usage, exit status 2) otherwise, before connecting;
// the message names the server, never the token.
absl::Status CheckTokenTransport(const CliArgs& args, absl::string_view server, bool has_token);

}  // namespace scep::scepctl

#endif  // SCEP_SERVICES_SCEPCTL_TOKEN_TRANSPORT_H_
