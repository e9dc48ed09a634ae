#ifndef SCEP_SERVICES_GATEWAY_PROFILE_H_
#define SCEP_SERVICES_GATEWAY_PROFILE_H_

#include <string>

#include "absl/time/time.h"

namespace scep::gateway {

// A certificate configuration profile, served at /scep/{name}. This is the
// minimum the enrollment flow needs; the full profile schema extends it.
struct Profile {
  std::string name = "default";
  // Static shared secret (case-sensitive). Secret: never logged.
  std::string challenge;
  // Accept DES, 3DES and SHA-1 from legacy clients (micromdm scepclient).
  bool allow_legacy = false;
  int validity_days = 365;
  std::string digest = "sha256";  // certificate signature hash
  // RenewalReq is accepted only this long before the current certificate
  // expires; zero: always.
  absl::Duration renewal_window = absl::ZeroDuration();
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PROFILE_H_
