#ifndef SCEP_SERVICES_GATEWAY_FURTHER_CAS_H_
#define SCEP_SERVICES_GATEWAY_FURTHER_CAS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/json_log.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_options.h"
#include "services/gateway/ca_certificates.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/profile.h"
#include "services/gateway/profile_issuer.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// An issuing CA other than the default one (Profile::issuing_ca) and what
// serves it: its signer binding, certificate index view (its CRL) and
// published certificates.
struct FurtherCa {
  std::unique_ptr<SignerClient> signer;
  std::unique_ptr<SignerClient> timed_signer;
  std::unique_ptr<redis::RedisCertificateIndex> index;
  CaCertificates certificates;
  std::unique_ptr<ProfileIssuer> issuer;
  std::unique_ptr<CertificateLoader> loader;  // last: stops before the rest goes
};
using FurtherCas = std::map<std::string, std::unique_ptr<FurtherCa>>;

// One FurtherCa per issuing CA that `profiles` name, sharing the signer
// connection settings and Redis; each logged (`issuing_ca`). The map
// outlives the service that uses it. An error names what could not be set
// up.
absl::StatusOr<FurtherCas> OpenFurtherCas(const std::vector<Profile>& profiles,
                                          const GrpcSignerOptions& signer_options,
                                          const redis::RedisOptions& redis_options,
                                          absl::Duration index_grace, GatewayMetrics* metrics,
                                          metrics::JsonLogger& log);

// The profiles that issue from `issuing_ca` ("" = the default CA), for the
// loader's check against the signer's issuance policy.
std::vector<Profile> ProfilesOf(const std::vector<Profile>& profiles,
                                const std::string& issuing_ca);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_FURTHER_CAS_H_
