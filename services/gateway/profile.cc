#include "services/gateway/profile.h"

#include <algorithm>

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
  // Renewal across profiles is what each profile lets in: a name that
  // matches nothing, or a profile of another CA (whose certificates this
  // CA cannot authenticate), would be a setting that silently does nothing.
  for (const Profile& p : profiles) {
    for (const std::string& from : p.renewal_from_profiles) {
      auto named = std::find_if(profiles.begin(), profiles.end(),
                                [&](const Profile& q) { return q.name == from; });
      const std::string field =
          absl::StrCat("profile '", p.name, "': renewal_from_profiles: ");
      if (named == profiles.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat(field, "no profile is named '", from, "'"));
      }
      if (from == p.name) {
        return absl::FailedPreconditionError(
            absl::StrCat(field, "names the profile itself (its own certificates always renew)"));
      }
      if (named->issuing_ca != p.issuing_ca) {
        return absl::FailedPreconditionError(absl::StrCat(
            field, "profile '", from, "' issues from another CA (issuing_ca '",
            named->issuing_ca, "', not '", p.issuing_ca, "')"));
      }
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
