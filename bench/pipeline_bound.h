#ifndef SCEP_BENCH_PIPELINE_BOUND_H_
#define SCEP_BENCH_PIPELINE_BOUND_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/enrollment.h"
#include "common/pkcs11/token.h"
#include "services/signer/signer_core.h"

namespace scep::bench {

// The transport-free ceiling of an enrollment: everything a SCEP server
// computes for a PKCSReq on the common path (shared-secret profile), in
// one process, with no HTTP, gRPC, Redis or thread hand-off between the
// steps. The gateway's part (codec::ParsePkiMessage with its signature
// check, the envelope's cipher, codec::ParseCsr, the challenge) and the
// signer's (SignerCore: RA decryption, issuance with the CSR check, the
// CertRep delivering the certificate) are the same functions the services
// call. Between the token-alone bound (hsm-bound) and a load run against
// the stack, it splits the gap into what the crypto outside the token
// costs and what transport and state cost.
struct PipelineResult {
  size_t processed = 0;  // requests with a reply (failures included)
  double seconds = 0;    // wall clock of the processing only
  std::vector<std::string> replies;  // DER CertRep per request ("" on failure)
  std::vector<std::string> errors;   // why a request got no reply
  double PerSecond() const {
    return seconds > 0 ? static_cast<double>(processed) / seconds : 0;
  }
};

// Processes every request of `requests` once on `threads` threads (indices
// handed out dynamically) against `core`, accepting `challenge`.
PipelineResult RunPipeline(signer::SignerCore& core,
                           const std::vector<Enrollment>& requests,
                           const std::string& challenge, int threads);

// `scep-bench pipeline-bound`: a SignerCore over `token` (the signer's key
// wrappers, so CPU per key operation is counted as in the signer), N
// pre-built PKCSReqs, RunPipeline, then every reply verified as a device
// would. Prints the figures on stderr (and one JSON object on stdout with
// `json`). 0 when every reply verified, 1 when some did not, 2 on a set-up
// error.
struct PipelineCommand {
  std::string ca_cert, ra_cert;            // PEM files
  std::string ca_key_label, ra_key_label;  // keys in the token
  size_t n = 1000;
  int keys = 32;
  int threads = 2;
  BuildOptions build;              // the requests (build.challenge they carry)
  std::string accepted_challenge;  // what the server side accepts
  bool json = false;
};
int RunPipelineBound(pkcs11::Token& token, const PipelineCommand& command);

}  // namespace scep::bench

#endif  // SCEP_BENCH_PIPELINE_BOUND_H_
