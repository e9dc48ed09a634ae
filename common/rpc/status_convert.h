#ifndef SCEP_COMMON_RPC_STATUS_CONVERT_H_
#define SCEP_COMMON_RPC_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace scep::rpc {

// absl and gRPC status codes have the same numbering; these are the one
// conversion at each gRPC boundary.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace scep::rpc

#endif  // SCEP_COMMON_RPC_STATUS_CONVERT_H_
