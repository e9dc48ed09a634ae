#ifndef SCEP_SERVICES_GATEWAY_PROFILE_BOUNDS_H_
#define SCEP_SERVICES_GATEWAY_PROFILE_BOUNDS_H_

#include <string>
#include <vector>

#include "services/gateway/profile.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// What in `profile` its CA's issuance policy (`bounds`, from the signer)
// refuses for every request: one message per problem, naming the profile
// field and the bound ("validity_days 365 exceeds the CA's
// max_validity_days 90"); empty when the profile fits. Default key usage
// (empty key_usage) counts as the signer applies it: digitalSignature plus
// keyEncipherment for RSA keys, keyAgreement for EC keys, as key_types
// allow; default EKU as clientAuth.
std::vector<std::string> ProfileOutsideBounds(const Profile& profile,
                                              const IssuanceBounds& bounds);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PROFILE_BOUNDS_H_
