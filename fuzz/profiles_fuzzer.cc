// libFuzzer target: the profiles-file loader (ParseProfiles, the JSON
// schema protos/scep/config/v1/profiles.proto). The file is operator
// configuration, not device input, but a typo must end in a clear
// FailedPrecondition at start-up, never a crash, and whatever it accepts
// must be within the documented ranges. Secrets come from fakes: the
// oracle checks they never reach an error message.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "services/gateway/profile_config.h"

namespace {

constexpr absl::string_view kSecret = "Fz-5ecret-9q7Vw-not-in-errors";
constexpr absl::string_view kOrigin = "fuzz-profiles.json";

scep::gateway::SecretSources FakeSecrets() {
  scep::gateway::SecretSources s;
  s.env = [](const std::string& name) -> std::optional<std::string> {
    if (name.empty() || name == "MISSING") return std::nullopt;
    return std::string(kSecret);
  };
  s.file = [](const std::string& path) -> absl::StatusOr<std::string> {
    if (path.empty() || absl::StrContains(path, "missing")) {
      return absl::NotFoundError("no such file");
    }
    return std::string(kSecret) + "\n";
  };
  return s;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using scep::gateway::Profile;
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  static const scep::gateway::SecretSources secrets = FakeSecrets();
  absl::StatusOr<std::vector<Profile>> profiles =
      scep::gateway::ParseProfiles(json, kOrigin, secrets);
  if (!profiles.ok()) {
    // A clear start-up error: FailedPrecondition naming the file, and no
    // secret unless the input itself carried it.
    Check(absl::IsFailedPrecondition(profiles.status()));
    Check(absl::StartsWith(profiles.status().message(), kOrigin));
    Check(absl::StrContains(json, kSecret) ||
          !absl::StrContains(profiles.status().message(), kSecret));
    return 0;
  }
  Check(!profiles->empty());
  for (const Profile& p : *profiles) {
    Check(!p.name.empty() && !p.template_name.empty());
    Check(p.validity_days >= 1 && p.validity_days <= 3650);
    Check(p.min_rsa_bits >= 2048 && p.min_rsa_bits <= 8192);
    Check(p.max_sans >= 1 && p.max_sans <= 1000);
    Check(p.per_client_per_minute >= 0 && p.per_profile_per_minute >= 0 &&
          p.per_subject_per_day >= 0);
    Check(p.approval_ttl > absl::ZeroDuration() &&
          p.approval_ttl < absl::InfiniteDuration());
    Check(p.renewal_window >= absl::ZeroDuration() &&
          p.renewal_window < absl::InfiniteDuration());
    Check(p.verifier_timeout > absl::ZeroDuration() &&
          p.verifier_timeout <= absl::Seconds(60));
    Check(p.digest == "sha256" || p.digest == "sha384" || p.digest == "sha512");
    Check(!p.key_types.empty());
    if (p.challenge_mode == Profile::ChallengeMode::kStatic) {
      Check(p.challenge == kSecret);
    }
  }
  return 0;
}
