#include "common/base/secret.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
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

// A PIN is what the file holds less one line ending: scep-provision and
// scep-signer must agree on it byte for byte (the token does).
TEST(SecretTest, PinFileLosesItsLineEndingsOnly) {
  const std::string path = ::testing::TempDir() + "/secret_test_pin_file";
  const std::pair<const char*, const char*> cases[] = {
      {"1234", "1234"},           {"1234\n", "1234"},         {"1234\r\n", "1234"},
      {"pin-with-space \n", "pin-with-space "}, {" 1234\t\n", " 1234\t"},
      {"1234\n\n", "1234"},       {"1234\r\n\r\n", "1234"},   {"12\n34\n", "12\n34"},
  };
  for (const auto& [content, pin] : cases) {
    SCOPED_TRACE(content);
    std::ofstream(path, std::ios::binary) << content;
    EXPECT_EQ(ReadPinFile("PIN", path).value(), pin);
    EXPECT_EQ(ReadPin("PIN", path, "SCEP_TEST_SECRET").value(), pin);
  }
  for (const char* empty : {"", "\n", "\r\n", "\n\n"}) {
    std::ofstream(path, std::ios::binary) << empty;
    EXPECT_TRUE(absl::IsInvalidArgument(ReadPinFile("PIN", path).status()));
    EXPECT_TRUE(absl::IsFailedPrecondition(ReadPin("PIN", path, "SCEP_TEST_SECRET").status()));
  }
  std::remove(path.c_str());
  absl::StatusOr<std::string> missing = ReadPinFile("PIN", path);
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_TRUE(absl::StrContains(missing.status().message(), path));
  setenv("SCEP_TEST_SECRET", "from-env ", 1);
  EXPECT_EQ(ReadPin("PIN", "", "SCEP_TEST_SECRET").value(), "from-env ");
  EXPECT_EQ(std::getenv("SCEP_TEST_SECRET"), nullptr);
}

TEST(SecretTest, EnvIsReadOnceAndRemoved) {
  setenv("SCEP_TEST_SECRET", "from-env", 1);
  EXPECT_EQ(ReadSecret("PIN", "", "SCEP_TEST_SECRET").value(), "from-env");
  EXPECT_EQ(std::getenv("SCEP_TEST_SECRET"), nullptr);
  auto missing = ReadSecret("PIN", "", "SCEP_TEST_SECRET");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "SCEP_TEST_SECRET"));
}

// unsetenv only drops the pointer: the bytes it pointed at (for a variable
// the process was started with, the block /proc/PID/environ shows) must
// not hold the secret any more. setenv's copies are never freed by glibc,
// so reading them after unsetenv is defined.
TEST(SecretTest, EnvValueIsOverwrittenInPlace) {
  setenv("SCEP_TEST_SECRET", "wipe-me-please", 1);
  const char* original = std::getenv("SCEP_TEST_SECRET");
  ASSERT_NE(original, nullptr);
  const size_t length = std::strlen(original);
  EXPECT_EQ(ReadSecret("PIN", "", "SCEP_TEST_SECRET").value(), "wipe-me-please");
  EXPECT_EQ(std::getenv("SCEP_TEST_SECRET"), nullptr);
  EXPECT_EQ(std::string(original, length), std::string(length, '\0'));
}

TEST(SecretTest, TakeSecretFromEnvWipesAndRemoves) {
  EXPECT_EQ(TakeSecretFromEnv("SCEP_TEST_UNSET_SECRET"), std::nullopt);
  setenv("SCEP_TEST_SECRET", "notify-key", 1);
  const char* original = std::getenv("SCEP_TEST_SECRET");
  EXPECT_EQ(TakeSecretFromEnv("SCEP_TEST_SECRET"), "notify-key");
  EXPECT_EQ(std::getenv("SCEP_TEST_SECRET"), nullptr);
  EXPECT_EQ(std::string(original, 10), std::string(10, '\0'));
  EXPECT_EQ(TakeSecretFromEnv("SCEP_TEST_SECRET"), std::nullopt);
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
