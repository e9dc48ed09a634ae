#include "services/gateway/further_cas.h"

#include <utility>

#include "services/gateway/timed_signer_client.h"

namespace scep::gateway {

absl::StatusOr<FurtherCas> OpenFurtherCas(const std::vector<Profile>& profiles,
                                          const GrpcSignerOptions& signer_options,
                                          const redis::RedisOptions& redis_options,
                                          absl::Duration index_grace, GatewayMetrics* metrics,
                                          metrics::JsonLogger& log) {
  FurtherCas cas;
  for (const Profile& p : profiles) {
    if (p.issuing_ca.empty() || cas.count(p.issuing_ca) != 0) continue;
    auto ca = std::make_unique<FurtherCa>();
    GrpcSignerOptions ca_signer_options = signer_options;
    ca_signer_options.issuing_ca = p.issuing_ca;
    absl::StatusOr<std::unique_ptr<SignerClient>> signer = NewGrpcSignerClient(ca_signer_options);
    if (!signer.ok()) return signer.status();
    ca->signer = *std::move(signer);
    ca->timed_signer = NewTimedSignerClient(ca->signer.get(), metrics);
    auto index = redis::RedisCertificateIndex::New(redis_options, p.issuing_ca);
    if (!index.ok()) return index.status();
    ca->index = *std::move(index);
    ca->issuer = std::make_unique<ProfileIssuer>(ca->timed_signer.get(), ca->index.get(),
                                                 index_grace);
    log.Log(metrics::LogRecord(metrics::LogLevel::kInfo, "issuing_ca").Str("name", p.issuing_ca));
    cas.emplace(p.issuing_ca, std::move(ca));
  }
  return cas;
}

std::vector<Profile> ProfilesOf(const std::vector<Profile>& profiles,
                                const std::string& issuing_ca) {
  std::vector<Profile> of;
  for (const Profile& p : profiles) {
    if (p.issuing_ca == issuing_ca) of.push_back(p);
  }
  return of;
}

}  // namespace scep::gateway
