#ifndef SCEP_SERVICES_GATEWAY_CHALLENGE_VERIFIER_H_
#define SCEP_SERVICES_GATEWAY_CHALLENGE_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/gateway/profile.h"

namespace scep::gateway {

// What an external challenge verifier (the hook MDMs such as Intune and
// Jamf use) is asked about one PKCSReq.
struct VerifyRequest {
  std::string transaction_id;
  std::string challenge;  // secret: sent to the verifier only
  std::string csr;        // DER
  std::string subject;    // RFC 2253 text
};

// Decides whether a challenge is valid for a request. Thread-safe.
class ChallengeVerifier {
 public:
  virtual ~ChallengeVerifier() = default;
  // true: allow; false: deny. Unavailable when the verifier cannot be
  // reached or answers out of contract in time: the caller fails closed.
  virtual absl::StatusOr<bool> Verify(const Profile& profile,
                                      const VerifyRequest& request) = 0;
};

// HTTP verifier: POSTs JSON {"profile", "transaction_id", "challenge",
// "csr" (base64), "subject"} to profile.verifier_url (http[s]://host:port/path,
// over profile.verifier_tls for https) with profile.verifier_timeout for
// the whole exchange, on kept-alive connections shared by the callers. A 200 answer whose
// JSON has "allow": true allows; 200 with "allow": false, 401 or 403 denies;
// anything else is Unavailable.
std::unique_ptr<ChallengeVerifier> NewHttpChallengeVerifier();

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CHALLENGE_VERIFIER_H_
