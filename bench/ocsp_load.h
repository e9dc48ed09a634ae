#ifndef SCEP_BENCH_OCSP_LOAD_H_
#define SCEP_BENCH_OCSP_LOAD_H_

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/http_client.h"

namespace scep::bench {

// `n` DER OCSPRequests (one SHA-1 CertID each) for random serials of `ca`,
// request i asking serial i % `distinct` (0: every serial different, so
// each answer needs a fresh CA signature; small: the responder's reuse).
absl::StatusOr<std::vector<std::string>> BuildOcspRequests(X509* ca, size_t n, size_t distinct);

// "" when `response` is an HTTP 200 successful OCSPResponse signed by `ca`
// answering one certificate with status unknown (the serials were never
// issued); otherwise the failure kind, with a `detail`.
std::string VerifyOcspReply(X509* ca, const HttpResponse& response, std::string* detail);

}  // namespace scep::bench

#endif  // SCEP_BENCH_OCSP_LOAD_H_
