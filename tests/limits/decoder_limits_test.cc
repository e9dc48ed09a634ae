// Hostile-input limits of the decoders the gateway runs on untrusted bytes
// (issue 8): deep nesting, huge lengths, truncation, corruption, and every
// input the fuzzers in fuzz/ ever crashed on (fuzz/regressions/<target>/).
// Each must be refused with InvalidArgument (or PermissionDenied for a CSR
// signature), never crash, hang or allocate without bound.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/codec/pki_message.h"
#include "gtest/gtest.h"
#include "services/gateway/http/query.h"
#include "services/gateway/scep_service.h"

namespace scep {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

std::vector<std::string> Captures() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(SCEP_TESTDATA_DIR)) {
    if (e.path().extension() == ".der") out.push_back(ReadFile(e.path()));
  }
  return out;
}

// Every decoder that sees untrusted DER refuses `der` as malformed input.
void ExpectAllRefuse(const std::string& der) {
  EXPECT_EQ(codec::ParsePkiMessage(der).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec::EnvelopeCipher(der).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec::ParseDegenerateCertificates(der).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec::ParseCsr(der).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec::DecodeIssuerAndSerial(der).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(codec::DecodeIssuerAndSubject(der).status().code(),
            absl::StatusCode::kInvalidArgument);
}

std::string Repeat(const std::string& unit, int n) {
  std::string out;
  out.reserve(unit.size() * n);
  for (int i = 0; i < n; ++i) out += unit;
  return out;
}

TEST(DecoderLimitsTest, DeepIndefiniteNestingIsRefused) {
  // 30 80 30 80 ...: 50,000 levels of indefinite-length SEQUENCE, the
  // classic stack exhaustion input for recursive BER decoders.
  ExpectAllRefuse(Repeat(std::string("\x30\x80", 2), 50000));
  ExpectAllRefuse(Repeat(std::string("\xA0\x80", 2), 50000));
}

TEST(DecoderLimitsTest, DeepDefiniteNestingIsRefused) {
  // Definite lengths that are all consistent: 30 82 LL LL around 30 82 ...
  std::string der = "\x05\x00";
  der.assign("\x05\x00", 2);
  for (int i = 0; i < 10000; ++i) {
    const size_t n = der.size();
    std::string header = "\x30\x83";
    header.push_back(static_cast<char>(n >> 16));
    header.push_back(static_cast<char>(n >> 8));
    header.push_back(static_cast<char>(n));
    der = header + der;
  }
  ExpectAllRefuse(der);
}

TEST(DecoderLimitsTest, HugeLengthsAreRefused) {
  const std::vector<std::string> inputs = {
      std::string("\x30\x84\xff\xff\xff\xff", 6),
      std::string("\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff", 10),
      std::string("\x30\x84\x7f\xff\xff\xff\x02\x01\x00", 9),
      std::string("\x02\x84\x7f\xff\xff\xff\x01", 7),        // INTEGER
      std::string("\x02\x88\x7f\xff\xff\xff\xff\xff\xff\xff", 10),
      std::string("\x30\x06\x02\x84\x7f\xff\xff\xff", 8),
      std::string("\x30\x8f", 2),  // length of length 15
      std::string("\x30\xff", 2),  // reserved length octet
      std::string("\x06\x84\x7f\xff\xff\xff\x2a", 7),        // OID
      std::string("\x30\x80", 2), std::string("\x00\x00", 2), std::string()};
  for (const std::string& der : inputs) ExpectAllRefuse(der);
  // A huge but complete INTEGER inside a SEQUENCE: 64 KiB of 0x7f.
  std::string big_int = std::string("\x02\x83\x01\x00\x00", 5) +
                        std::string(65536, '\x7f');
  std::string seq = std::string("\x30\x83\x01\x00\x05", 5) + big_int;
  ExpectAllRefuse(seq);
}

TEST(DecoderLimitsTest, EveryTruncationOfARealRequestIsRefused) {
  for (const std::string& der : Captures()) {
    ASSERT_TRUE(codec::ParsePkiMessage(der).ok());
    for (size_t n = 0; n < der.size(); ++n) {
      EXPECT_FALSE(codec::ParsePkiMessage(der.substr(0, n)).ok()) << n;
      (void)codec::EnvelopeCipher(der.substr(0, n));
    }
  }
}

TEST(DecoderLimitsTest, CorruptedRequestsNeverCrash) {
  // Each byte XORed: either still decodes (a byte of a signature or a
  // certificate field) or is refused; the signature catches the former.
  for (const std::string& der : Captures()) {
    for (size_t i = 0; i < der.size(); i += 3) {
      std::string bad = der;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      auto msg = codec::ParsePkiMessage(bad);
      if (msg.ok()) {
        EXPECT_NE(msg->signer_certificate, nullptr);
      } else {
        EXPECT_EQ(msg.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST(DecoderLimitsTest, OversizedMessageParamIsRefused) {
  std::string b64(128 * 1024 + 4, 'A');
  EXPECT_EQ(gateway::DecodeMessageParam(b64).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(gateway::DecodeMessageParam("").ok());
  EXPECT_FALSE(gateway::DecodeMessageParam("====").ok());
  EXPECT_FALSE(gateway::ParseQuery("a=%").ok());
  EXPECT_FALSE(gateway::ParseQuery("a=%G0").ok());
}

// Saved fuzzer inputs (fuzz/regressions/<target>), replayed every run.

std::vector<fs::path> Regressions(const std::string& target) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(SCEP_FUZZ_REGRESSIONS_DIR) / target;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

TEST(FuzzRegressionTest, PkiMessageInputs) {
  for (const fs::path& p : Regressions("pki_message")) {
    SCOPED_TRACE(p.string());
    const std::string der = ReadFile(p);
    auto msg = codec::ParsePkiMessage(der);
    if (msg.ok()) (void)codec::EnvelopeCipher(msg->content);
    (void)codec::EnvelopeCipher(der);
    (void)codec::ParseDegenerateCertificates(der);
    (void)codec::ParseDegenerateCrl(der);
  }
}

TEST(FuzzRegressionTest, CsrInputs) {
  for (const fs::path& p : Regressions("csr")) {
    SCOPED_TRACE(p.string());
    (void)codec::ParseCsr(ReadFile(p));
  }
}

TEST(FuzzRegressionTest, IdentifierInputs) {
  for (const fs::path& p : Regressions("identifiers")) {
    SCOPED_TRACE(p.string());
    (void)codec::DecodeIssuerAndSerial(ReadFile(p));
    (void)codec::DecodeIssuerAndSubject(ReadFile(p));
  }
}

TEST(FuzzRegressionTest, QueryInputs) {
  for (const fs::path& p : Regressions("query")) {
    SCOPED_TRACE(p.string());
    const std::string raw = ReadFile(p);
    (void)gateway::ParseQuery(raw);
    (void)gateway::DecodeMessageParam(raw);
  }
}

}  // namespace
}  // namespace scep
