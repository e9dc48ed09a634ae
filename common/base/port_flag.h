#ifndef SCEP_COMMON_BASE_PORT_FLAG_H_
#define SCEP_COMMON_BASE_PORT_FLAG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::base {

// The value of the int flag `flag` ("--http_port") as a TCP port, checked
// before anything narrows it (65536 must not become port 0): `lowest`
// (0: any free port, or off, as the flag says) to 65535. InvalidArgument
// naming the flag and the value otherwise (fatal at start-up).
absl::StatusOr<uint16_t> PortFromFlag(absl::string_view flag, int value, int lowest = 0);

// The same for a "host:port" flag (gRPC's listen address, "[::]:9090"),
// whose port the resolver would otherwise take modulo 65536: InvalidArgument
// naming the flag when the digits after the last ':' exceed 65535. Other
// text (no port, "unix:PATH") is left for gRPC to judge.
absl::Status CheckHostPortFlag(absl::string_view flag, absl::string_view host_port);

}  // namespace scep::base

#endif  // SCEP_COMMON_BASE_PORT_FLAG_H_
