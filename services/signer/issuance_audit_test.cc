// The issuance audit trail's file: appended, reopened after rotation, and
// never left with a partial line.

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "services/signer/issuance_audit.h"

namespace scep::signer {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(IssuanceAuditTest, FileIsAppendedAndUnwritableOneIsAStartError) {
  const std::string path = ::testing::TempDir() + "/audit-test.log";
  std::remove(path.c_str());
  for (const char* tid : {"a", "b"}) {
    auto audit = IssuanceAudit::OpenFile(path);
    ASSERT_TRUE(audit.ok()) << audit.status();
    (*audit)->Refused({"default", "c", tid}, "key", "k");
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 2);
  EXPECT_EQ(IssuanceAudit::OpenFile("/nonexistent-dir/audit.log").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(IssuanceAuditTest, ReopenFollowsLogRotation) {
  const std::string path = ::testing::TempDir() + "/audit-rotate.log";
  const std::string rotated = path + ".1";
  std::remove(path.c_str());
  std::remove(rotated.c_str());
  auto audit = IssuanceAudit::OpenFile(path);
  ASSERT_TRUE(audit.ok()) << audit.status();
  (*audit)->Refused({"default", "c", "before"}, "key", "k");
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  (*audit)->Refused({"default", "c", "still-old"}, "key", "k");  // the moved file
  ASSERT_TRUE((*audit)->Reopen().ok());
  (*audit)->Refused({"default", "c", "after"}, "key", "k");
  const auto read = Read;
  EXPECT_NE(read(rotated).find("\"still-old\""), std::string::npos);
  EXPECT_EQ(read(rotated).find("\"after\""), std::string::npos);
  EXPECT_NE(read(path).find("\"after\""), std::string::npos);
  EXPECT_EQ(read(path).find("\"before\""), std::string::npos);
  std::ostringstream stream;
  EXPECT_TRUE(IssuanceAudit(&stream).Reopen().ok());  // a stream: nothing to do
}

// Lines in the file are whole or absent: a write the file refuses half-way
// (disk full, quota, here the file-size limit) is taken back, counted, and
// leaves nothing behind that a later line would complete or follow.
TEST(IssuanceAuditTest, AFailedWriteLeavesNoPartialLine) {
  const std::string path = ::testing::TempDir() + "/audit-full.log";
  std::remove(path.c_str());
  auto audit = IssuanceAudit::OpenFile(path);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_TRUE((*audit)->Refused({"default", "c", "first"}, "key", "k"));
  const std::string first = Read(path);
  ASSERT_FALSE(first.empty());

  // Room for part of the next line only (~150 bytes): write() takes what
  // fits, then refuses with EFBIG (SIGXFSZ ignored, as a server would).
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  void (*previous)(int) = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = first.size() + 40;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const bool written = (*audit)->Refused({"default", "c", "refused-by-the-disk"}, "key", "k");
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  EXPECT_FALSE(written);
  EXPECT_EQ((*audit)->write_errors(), 1u);
  EXPECT_EQ(Read(path), first);

  ASSERT_TRUE((*audit)->Refused({"default", "c", "after"}, "key", "k"));
  const std::string text = Read(path);
  EXPECT_EQ(text.find("refused-by-the-disk"), std::string::npos) << text;
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << text;
  EXPECT_EQ(lines[0] + "\n", first);
  EXPECT_TRUE(absl::StartsWith(lines[1], "{\"ts\":")) << lines[1];
  EXPECT_TRUE(absl::EndsWith(lines[1], "\"reason\":\"k\"}")) << lines[1];
  EXPECT_NE(lines[1].find("\"after\""), std::string::npos);
  EXPECT_TRUE(absl::EndsWith(text, "\n"));
}

}  // namespace
}  // namespace scep::signer
