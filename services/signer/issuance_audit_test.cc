// The issuance audit trail's file: appended, reopened after rotation, and
// never left with a partial line.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto/ssl_ptr.h"
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
    (*audit)->Refused({"default", "c", tid, ""}, "key", "k");
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
  (*audit)->Refused({"default", "c", "before", ""}, "key", "k");
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  (*audit)->Refused({"default", "c", "still-old", ""}, "key", "k");  // the moved file
  ASSERT_TRUE((*audit)->Reopen().ok());
  (*audit)->Refused({"default", "c", "after", ""}, "key", "k");
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
  ASSERT_TRUE((*audit)->Refused({"default", "c", "first", ""}, "key", "k"));
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
  const bool written = (*audit)->Refused({"default", "c", "refused-by-the-disk", ""}, "key", "k");
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  EXPECT_FALSE(written);
  EXPECT_EQ((*audit)->write_errors(), 1u);
  EXPECT_EQ(Read(path), first);

  ASSERT_TRUE((*audit)->Refused({"default", "c", "after", ""}, "key", "k"));
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

// certificate_issued names everything the certificate names, however many:
// the audit trail is the record of what the CA signed (a search for a SAN
// must find it), not a log line to be kept short. Subject and
// subject_alt_name used to be cut at 256 bytes ("..."): a certificate with
// 18 SANs was logged with 5.
TEST(IssuanceAuditTest, CertificateIssuedNamesEverySanAndTheWholeSubject) {
  crypto::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  crypto::X509Ptr cert(X509_new());
  ASSERT_NE(cert, nullptr);
  ASSERT_EQ(X509_set_version(cert.get(), 2), 1);
  ASSERT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 0x5a), 1);
  ASSERT_NE(X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0), nullptr);
  ASSERT_NE(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600), nullptr);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::vector<std::string> rdns;
  for (int i = 0; i < 6; ++i) {
    const std::string unit = absl::StrCat("organizational-unit-", i, "-of-a-long-subject-name");
    ASSERT_EQ(X509_NAME_add_entry_by_txt(subject, "OU", MBSTRING_ASC,
                                         reinterpret_cast<const unsigned char*>(unit.c_str()),
                                         -1, -1, 0),
              1);
    rdns.insert(rdns.begin(), "OU=" + unit);  // RFC 2253 lists the last RDN first
  }
  ASSERT_EQ(X509_set_issuer_name(cert.get(), subject), 1);
  ASSERT_EQ(X509_set_pubkey(cert.get(), key.get()), 1);
  std::vector<std::string> sans;
  for (int i = 0; i < 20; ++i) {
    sans.push_back(absl::StrCat("DNS:host-", i, ".devices.corp.example"));
  }
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                            absl::StrJoin(sans, ",").c_str());
  ASSERT_NE(ext, nullptr);
  ASSERT_EQ(X509_add_ext(cert.get(), ext, -1), 1);
  X509_EXTENSION_free(ext);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);

  std::ostringstream out;
  IssuanceAudit audit(&out);
  ASSERT_TRUE(audit.Issued({"default", "gateway-1", "tid-many", ""}, cert.get()));
  google::protobuf::Struct line;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.str(), &line).ok()) << out.str();
  const auto& fields = line.fields();
  ASSERT_TRUE(fields.contains("subject_alt_name")) << out.str();
  ASSERT_TRUE(fields.contains("subject")) << out.str();
  const std::vector<std::string> logged =
      absl::StrSplit(fields.at("subject_alt_name").string_value(), ", ");
  ASSERT_EQ(logged.size(), sans.size()) << out.str();
  for (size_t i = 0; i < sans.size(); ++i) {
    EXPECT_EQ(logged[i], sans[i]);
  }
  EXPECT_EQ(fields.at("subject").string_value(), absl::StrJoin(rdns, ","));
  EXPECT_GT(fields.at("subject").string_value().size(), 256u);
}

}  // namespace
}  // namespace scep::signer
