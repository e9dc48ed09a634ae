#include "services/gateway/profile.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace scep::gateway {

absl::StatusOr<std::unique_ptr<ProfileSet>> ProfileSet::New(
    std::vector<Profile> profiles) {
  if (profiles.empty()) return absl::FailedPreconditionError("no profiles configured");
  absl::flat_hash_set<std::string> names;
  for (const Profile& p : profiles) {
    if (p.name.empty() || p.name.size() > 64 ||
        p.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
            std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          "profile name '", p.name, "' must be 1..64 of [a-z0-9-_] (it is a URL path)"));
    }
    if (!names.insert(p.name).second) {
      return absl::FailedPreconditionError(
          absl::StrCat("profile '", p.name, "' is defined twice"));
    }
  }
  return std::unique_ptr<ProfileSet>(new ProfileSet(std::move(profiles)));
}

const Profile* ProfileSet::Find(absl::string_view name) const {
  for (const Profile& p : profiles_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace scep::gateway
