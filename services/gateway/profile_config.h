#ifndef SCEP_SERVICES_GATEWAY_PROFILE_CONFIG_H_
#define SCEP_SERVICES_GATEWAY_PROFILE_CONFIG_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/gateway/profile.h"
#include "services/gateway/tls_client.h"

namespace scep::gateway {

// Reads secrets named by the profiles file: environment variables (by
// name) and files (by path). Injectable for tests.
struct SecretSources {
  std::function<std::optional<std::string>(const std::string& name)> env;
  std::function<absl::StatusOr<std::string>(const std::string& path)> file;
  // The TLS settings of an https:// hook of `profile` (TlsClientContext::New,
  // which reads the files); unset: not checked, no context.
  std::function<absl::StatusOr<std::shared_ptr<TlsClientContext>>(
      const TlsClientFiles& files, absl::string_view setting, const std::string& profile)>
      tls;
};
// `log` (may be null) hears of the hooks' TLS files reloaded.
SecretSources RealSecretSources(metrics::JsonLogger* log = nullptr);

// Parses profiles from JSON text (schema protos/scep/config/v1/profiles.proto)
// and checks every field. FailedPrecondition naming `origin` (the file),
// the profile and the field, e.g.
//   "profiles.json: profile 'wifi': challenge.mode: must be static,
//    one-time or external".
// Secrets are resolved through `secrets` and never appear in errors.
absl::StatusOr<std::vector<Profile>> ParseProfiles(absl::string_view json,
                                                   absl::string_view origin,
                                                   const SecretSources& secrets);

// ParseProfiles on the contents of `path`; `log` as for RealSecretSources.
absl::StatusOr<std::vector<Profile>> LoadProfilesFile(const std::string& path,
                                                      metrics::JsonLogger* log = nullptr);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PROFILE_CONFIG_H_
