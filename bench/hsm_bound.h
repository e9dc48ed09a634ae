#ifndef SCEP_BENCH_HSM_BOUND_H_
#define SCEP_BENCH_HSM_BOUND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pkcs11/token.h"

namespace scep::bench {

// One private-key operation in the token: "sign:LABEL" (PKCS#1 v1.5 or
// ECDSA over a SHA-256 digest) or "decrypt:LABEL" (RSA PKCS#1 v1.5
// decryption of a 32-byte key, what the RA does with an envelope).
struct KeyOp {
  bool decrypt = false;
  std::string label;
};

// Parses "decrypt:scep-ra,sign:scep-ca,sign:scep-ra". InvalidArgument when
// malformed.
absl::StatusOr<std::vector<KeyOp>> ParseKeyOps(absl::string_view spec);

struct HsmBoundResult {
  long long sequences = 0;  // complete runs of the op sequence
  double seconds = 0;
  double OpsPerSecond(size_t ops_per_sequence) const {
    return seconds > 0 ? static_cast<double>(sequences * ops_per_sequence) / seconds
                       : 0;
  }
  double SequencesPerSecond() const {
    return seconds > 0 ? static_cast<double>(sequences) / seconds : 0;
  }
};

// Runs `ops` in a loop on `threads` threads for `seconds`, through `token`
// the way the signer does (Token::WithPrivateKey, one EVP_PKEY_CTX per
// operation). The token's private-key throughput with the cores busy is the
// ceiling for enrollments: divide by the operations one enrollment needs.
// Errors: the first failing operation's status.
absl::StatusOr<HsmBoundResult> MeasureHsmBound(pkcs11::Token& token,
                                               const std::vector<KeyOp>& ops,
                                               int threads, double seconds);

}  // namespace scep::bench

#endif  // SCEP_BENCH_HSM_BOUND_H_
