#include "services/signer/issuing_ca_config.h"

#include "gtest/gtest.h"

namespace scep::signer {
namespace {

IssuingCaFiles Default() {
  return {"", "scep-ca", "var/pki/ca.pem", "scep-ra", "var/pki/ra.pem", ""};
}

TEST(IssuingCaFilesForTest, DefaultComesFirstAndOthersFollowTheProvisionLayout) {
  absl::StatusOr<std::vector<IssuingCaFiles>> files =
      IssuingCaFilesFor({"wifi", "vpn_users"}, "", Default());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].name, "");
  EXPECT_EQ((*files)[0].ca_key_label, "scep-ca");
  EXPECT_EQ((*files)[1].name, "wifi");
  EXPECT_EQ((*files)[1].ca_key_label, "scep-ca-wifi");
  EXPECT_EQ((*files)[1].ra_key_label, "scep-ra-wifi");
  EXPECT_EQ((*files)[1].ca_cert, "var/pki/wifi/ca.pem");
  EXPECT_EQ((*files)[1].ra_cert, "var/pki/wifi/ra.pem");
  EXPECT_EQ((*files)[2].ca_cert, "var/pki/vpn_users/ca.pem");
  EXPECT_EQ((*files)[1].ra_key_file, "") << "RA keys in the token";
}

TEST(IssuingCaFilesForTest, RaKeyFilesFollowTheDefaultCasPlacement) {
  IssuingCaFiles with_file = Default();
  with_file.ra_key_file = "/etc/scep/ra-key/ra-key.pem";
  absl::StatusOr<std::vector<IssuingCaFiles>> files =
      IssuingCaFilesFor({"wifi"}, "/etc/scep/cas", with_file);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)[0].ra_key_file, "/etc/scep/ra-key/ra-key.pem");
  EXPECT_EQ((*files)[1].ra_key_file, "/etc/scep/cas/wifi/ra-key.pem");
}

TEST(IssuingCaFilesForTest, ExplicitDirectoryWins) {
  absl::StatusOr<std::vector<IssuingCaFiles>> files =
      IssuingCaFilesFor({"wifi"}, "/etc/scep/cas", Default());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)[1].ca_cert, "/etc/scep/cas/wifi/ca.pem");
}

TEST(IssuingCaFilesForTest, RefusesBadAndDuplicateNames) {
  for (const char* bad : {"", "Wifi", "../etc", "a b", "wifi/ca"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(
        IssuingCaFilesFor({bad}, "", Default()).status()))
        << bad;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      IssuingCaFilesFor({"wifi", "wifi"}, "", Default()).status()));
  EXPECT_FALSE(IsValidIssuingCaName(std::string(65, 'a')));
  EXPECT_TRUE(IsValidIssuingCaName(std::string(64, 'a')));
}

}  // namespace
}  // namespace scep::signer
