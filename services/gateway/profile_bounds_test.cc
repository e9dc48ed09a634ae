#include "services/gateway/profile_bounds.h"

#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

using Problems = std::vector<std::string>;

TEST(ProfileBoundsTest, FittingProfileHasNoProblems) {
  Profile profile;  // 365 days, sha256, default usages, clientAuth
  EXPECT_TRUE(ProfileOutsideBounds(profile, IssuanceBounds{}).empty());
  IssuanceBounds bounds{398, {"digitalSignature", "keyEncipherment", "keyAgreement"},
                        {"1.3.6.1.5.5.7.3.2"}, {"sha256"}};
  EXPECT_TRUE(ProfileOutsideBounds(profile, bounds).empty());
}

TEST(ProfileBoundsTest, EachExcessIsNamed) {
  Profile profile;
  profile.validity_days = 825;
  profile.digest = "sha512";
  profile.extended_key_usage = {"clientAuth", "serverAuth"};
  IssuanceBounds bounds{398, {"digitalSignature", "keyEncipherment"}, {"1.3.6.1.5.5.7.3.2"},
                        {"sha256"}};
  EXPECT_EQ(
      ProfileOutsideBounds(profile, bounds),
      Problems({"validity_days 825 exceeds the CA's max_validity_days 398",
                  "digest sha512 is not among the CA's sha256",
                  // The default key usage of EC device keys.
                  "default key usage keyAgreement is not among the CA's allowed_key_usage",
                  "extended_key_usage serverAuth is not among the CA's "
                  "allowed_extended_key_usage"}));
  // An RSA-only profile's default usages fit.
  profile.key_types = {"rsa"};
  profile.validity_days = 398;
  profile.digest = "sha256";
  profile.extended_key_usage.clear();
  EXPECT_TRUE(ProfileOutsideBounds(profile, bounds).empty());
  profile.key_usage = {"digitalSignature", "nonRepudiation"};
  EXPECT_EQ(ProfileOutsideBounds(profile, bounds),
            Problems({"key_usage nonRepudiation is not among the CA's allowed_key_usage"}));
  // Usages the signer leaves out for every key type the profile accepts
  // are never issued: keyEncipherment with EC keys only.
  profile.key_types = {"ec-p256"};
  profile.key_usage = {"digitalSignature", "keyEncipherment"};
  bounds.allowed_key_usage = {"digitalSignature"};
  EXPECT_TRUE(ProfileOutsideBounds(profile, bounds).empty());
  profile.key_types = {"ec-p256", "rsa"};
  EXPECT_EQ(ProfileOutsideBounds(profile, bounds),
            Problems({"key_usage keyEncipherment is not among the CA's allowed_key_usage"}));
  profile.key_types = {"rsa"};
  profile.key_usage = {"digitalSignature", "nonRepudiation"};
  bounds.allowed_key_usage = {"digitalSignature", "keyEncipherment"};
  bounds.allowed_extended_key_usage = {"1.3.6.1.5.5.7.3.1"};  // serverAuth only
  EXPECT_EQ(ProfileOutsideBounds(profile, bounds).back(),
            "default extended key usage clientAuth is not among the CA's "
            "allowed_extended_key_usage");
}

}  // namespace
}  // namespace scep::gateway
