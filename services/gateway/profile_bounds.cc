#include "services/gateway/profile_bounds.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/oid.h"

namespace scep::gateway {
namespace {

bool Contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// Dotted form of an EKU name such as "clientAuth"; the name itself when
// OpenSSL does not know it (the profile checker refuses such names).
std::string DottedOid(const std::string& name) {
  std::string dotted = crypto::DottedOidOf(name);
  return dotted.empty() ? name : dotted;
}

bool HasEcKeys(const Profile& profile) {
  return Contains(profile.key_types, "ec-p256") || Contains(profile.key_types, "ec-p384");
}

// Whether the signer keeps `usage` in the certificate of some key type the
// profile accepts: it leaves out what does not apply to the device's key
// (keyEncipherment and dataEncipherment for EC keys; keyAgreement,
// encipherOnly and decipherOnly for RSA keys, RFC 5480 / RFC 4055).
bool IssuedForSomeKey(const Profile& profile, const std::string& usage) {
  const bool rsa = Contains(profile.key_types, "rsa") &&
                   usage != "keyAgreement" && usage != "encipherOnly" &&
                   usage != "decipherOnly";
  const bool ec = HasEcKeys(profile) && usage != "keyEncipherment" &&
                  usage != "dataEncipherment";
  return rsa || ec;
}

}  // namespace

std::vector<std::string> ProfileOutsideBounds(const Profile& profile,
                                              const IssuanceBounds& bounds) {
  std::vector<std::string> problems;
  if (bounds.max_validity_days > 0 && profile.validity_days > bounds.max_validity_days) {
    problems.push_back(absl::StrCat("validity_days ", profile.validity_days,
                                    " exceeds the CA's max_validity_days ",
                                    bounds.max_validity_days));
  }
  if (!bounds.allowed_digests.empty() && !Contains(bounds.allowed_digests, profile.digest)) {
    problems.push_back(absl::StrCat("digest ", profile.digest, " is not among the CA's ",
                                    absl::StrJoin(bounds.allowed_digests, ", ")));
  }
  if (!bounds.allowed_key_usage.empty()) {
    std::vector<std::string> usages = profile.key_usage;
    if (usages.empty()) usages = {"digitalSignature", "keyEncipherment", "keyAgreement"};
    std::vector<std::string> refused;
    for (const std::string& usage : usages) {
      if (IssuedForSomeKey(profile, usage) && !Contains(bounds.allowed_key_usage, usage)) {
        refused.push_back(usage);
      }
    }
    if (!refused.empty()) {
      problems.push_back(absl::StrCat(profile.key_usage.empty() ? "default key usage " : "key_usage ",
                                      absl::StrJoin(refused, ", "),
                                      " is not among the CA's allowed_key_usage"));
    }
  }
  if (!bounds.allowed_extended_key_usage.empty()) {
    const std::vector<std::string> ekus = profile.extended_key_usage.empty()
                                              ? std::vector<std::string>{"clientAuth"}
                                              : profile.extended_key_usage;
    std::vector<std::string> refused;
    for (const std::string& eku : ekus) {
      if (!Contains(bounds.allowed_extended_key_usage, DottedOid(eku))) refused.push_back(eku);
    }
    if (!refused.empty()) {
      problems.push_back(absl::StrCat(
          profile.extended_key_usage.empty() ? "default extended key usage " : "extended_key_usage ",
          absl::StrJoin(refused, ", "), " is not among the CA's allowed_extended_key_usage"));
    }
  }
  return problems;
}

}  // namespace scep::gateway
