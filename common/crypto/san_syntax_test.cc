#include "common/crypto/san_syntax.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace scep::crypto {
namespace {

// A GeneralName of `type` holding `bytes` as they are.
absl::Status Check(int type, const std::string& bytes) {
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_STRING* value =
      ASN1_STRING_type_new(type == GEN_IPADD       ? V_ASN1_OCTET_STRING
                           : type == GEN_OTHERNAME ? V_ASN1_UTF8STRING
                                                   : V_ASN1_IA5STRING);
  EXPECT_EQ(ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size())), 1);
  if (type == GEN_OTHERNAME) {
    ASN1_TYPE* upn = ASN1_TYPE_new();
    ASN1_TYPE_set(upn, V_ASN1_UTF8STRING, value);
    EXPECT_EQ(GENERAL_NAME_set0_othername(name, OBJ_nid2obj(NID_ms_upn), upn), 1);
  } else {
    GENERAL_NAME_set0_value(name, type, value);
  }
  absl::Status status = CheckSubjectAltNameSyntax(name);
  GENERAL_NAME_free(name);
  return status;
}

TEST(SanSyntaxTest, WellFormedNamesPass) {
  for (const auto& [type, bytes] : std::vector<std::pair<int, std::string>>{
           {GEN_DNS, "laptop-7.devices.example.com"},
           {GEN_DNS, "LAPTOP7"},
           {GEN_DNS, "xn--bcher-kva.example"},
           {GEN_DNS, "0a.example"},
           // Windows computer names may hold "_" (NetBIOS); so do SRV-style
           // labels. Private device PKI issues them.
           {GEN_DNS, "LAPTOP_7.corp.example"},
           {GEN_EMAIL, "a@exa_mple.com"},
           {GEN_DNS, std::string(63, 'a') + ".example"},
           {GEN_EMAIL, "first.last+tag@example.com"},
           {GEN_URI, "IntuneDeviceId://3f1c2a7e-0000-4000-8000-000000000001"},
           {GEN_URI, "urn:uuid:3f1c2a7e-0000-4000-8000-000000000001"},
           {GEN_OTHERNAME, "alice@corp.example.com"},
           {GEN_OTHERNAME, "J\xc3\xbcrgen@corp.example.com"},
           {GEN_IPADD, std::string("\x0a\x01\x02\x03", 4)},
           {GEN_IPADD, std::string(16, '\x01')}}) {
    EXPECT_TRUE(Check(type, bytes).ok()) << type << " " << bytes << ": " << Check(type, bytes);
  }
}

// The audit's names: a NUL that a glob or a suffix match read past, bytes
// beyond ASCII, a wildcard, a second "@".
TEST(SanSyntaxTest, MalformedNamesAreRefusedAndShownEscaped) {
  for (const auto& [type, bytes] : std::vector<std::pair<int, std::string>>{
           {GEN_DNS, std::string("www.bank.com\0.devices.example.com", 33)},
           {GEN_DNS, "bad name\xe9.devices.example.com"},
           {GEN_DNS, "*.devices.example.com"},
           {GEN_DNS, "a..example"},
           {GEN_DNS, "example.com."},
           {GEN_DNS, "-a.example"},
           {GEN_DNS, "a-.example"},
           {GEN_DNS, ""},
           {GEN_DNS, std::string(64, 'a') + ".example"},
           {GEN_DNS, std::string(254, 'a')},
           {GEN_EMAIL, std::string("ceo@evil.com\0@example.com", 25)},
           {GEN_EMAIL, "ceo@evil.com@example.com"},
           {GEN_EMAIL, "@example.com"},
           {GEN_EMAIL, "no-at-sign.example.com"},
           {GEN_EMAIL, "a b@example.com"},
           {GEN_URI, "no-scheme"},
           {GEN_URI, "https://a.example/\x01"},
           {GEN_URI, "https://a.example/\xc3\xa9"},
           {GEN_URI, "1http://a.example"},
           {GEN_URI, "http:"},
           {GEN_OTHERNAME, std::string("administrator@corp.example.com\0x", 32)},
           {GEN_OTHERNAME, "admin@corp.example.com@evil.example"},
           {GEN_OTHERNAME, "admin\x7f@corp.example.com"},
           {GEN_OTHERNAME, "admin\xc2\x85@corp.example.com"},
           {GEN_OTHERNAME, "admin\xff@corp.example.com"},
           {GEN_OTHERNAME, "corp.example.com"},
           {GEN_IPADD, std::string("\x0a\x01\x02", 3)}}) {
    absl::Status status = Check(type, bytes);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << type << " " << bytes;
    EXPECT_TRUE(absl::StartsWith(status.message(), "subjectAltName ")) << status;
    for (char c : status.message()) {
      EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << "unescaped byte in: " << status;
    }
  }
  EXPECT_TRUE(absl::StrContains(
      Check(GEN_DNS, std::string("www.bank.com\0.devices.example.com", 33)).message(),
      "dns:www.bank.com\\x00.devices.example.com"));
}

}  // namespace
}  // namespace scep::crypto
