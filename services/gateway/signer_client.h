#ifndef SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_
#define SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/codec/scep_types.h"
#include "scep/signer/v1/signer.grpc.pb.h"

namespace scep::gateway {

struct CaCertificatesDer {
  std::string ca;  // DER
  std::string ra;  // DER
};

// The gateway's view of the signer: one call per private-key operation.
// Every "signer cannot answer now" condition (down, deadline, overloaded)
// is Unavailable so the caller can answer 503; other codes mean the signer
// refused the input. Thread-safe.
class SignerClient {
 public:
  virtual ~SignerClient() = default;
  virtual absl::StatusOr<CaCertificatesDer> GetCertificates() = 0;
  virtual absl::StatusOr<std::string> Decrypt(absl::string_view enveloped) = 0;
  virtual absl::StatusOr<std::string> Issue(absl::string_view csr,
                                            int validity_days,
                                            absl::string_view digest) = 0;
  virtual absl::StatusOr<std::string> SignCertRep(
      absl::string_view content, const codec::ScepAttributes& attributes,
      absl::string_view digest) = 0;
};

struct GrpcSignerOptions {
  // gRPC target; "dns:///signer:9090" spreads calls over every address
  // (round_robin), as behind a headless Kubernetes service.
  std::string target = "dns:///127.0.0.1:9090";
  absl::Duration deadline = absl::Seconds(5);
};

// Production client over the generated stub. `stub` may be a mock in tests.
std::unique_ptr<SignerClient> NewGrpcSignerClient(
    std::unique_ptr<signer::v1::Signer::StubInterface> stub,
    absl::Duration deadline);

// Channel + stub for `options`, plaintext (mTLS is configured elsewhere).
std::unique_ptr<SignerClient> NewGrpcSignerClient(const GrpcSignerOptions& options);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_SIGNER_CLIENT_H_
