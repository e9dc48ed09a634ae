#include "common/base/secret.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace scep::base {
namespace {

TEST(SecretTest, FileWinsAndIsTrimmed) {
  std::string path = ::testing::TempDir() + "/secret_test_pin";
  std::ofstream(path) << "s3cret \n";
  setenv("SCEP_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(ReadSecret("PIN", path, "SCEP_TEST_SECRET").value(), "s3cret");
  std::remove(path.c_str());
}

TEST(SecretTest, EnvIsReadOnceAndRemoved) {
  setenv("SCEP_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(ReadSecret("PIN", "", "SCEP_TEST_SECRET").value(), "from-env");
  EXPECT_EQ(std::getenv("SCEP_TEST_SECRET"), nullptr);
  auto missing = ReadSecret("PIN", "", "SCEP_TEST_SECRET");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "SCEP_TEST_SECRET"));
}

TEST(SecretTest, UnreadableOrEmptyFileNamesThePathNotTheValue) {
  auto unreadable = ReadSecret("challenge", "/nonexistent/secret", "UNUSED_ENV");
  EXPECT_TRUE(absl::StrContains(unreadable.status().message(), "/nonexistent/secret"));
  std::string path = ::testing::TempDir() + "/secret_test_empty";
  std::ofstream(path) << "  \n";
  EXPECT_FALSE(ReadSecret("challenge", path, "UNUSED_ENV").ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace scep::base
