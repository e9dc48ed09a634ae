// The distinguished-name helpers: parsing what administrators write,
// checking subject text, and re-encoding legacy string types.

#include "common/crypto/distinguished_name.h"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace scep::crypto {
namespace {

TEST(DistinguishedNameTest, ParsesCommaAndSlashForms) {
  absl::StatusOr<X509NamePtr> name =
      ParseDistinguishedName(" CN = Dev CA\\, Inc , O=Example,C=DE ");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(FormatDistinguishedName(name->get()),
            "CN=Dev CA, Inc, O=Example, C=DE");
  name = ParseDistinguishedName("/CN=x/O=y");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(FormatDistinguishedName(name->get()), "CN=x, O=y");
  // Attribute types in any case.
  name = ParseDistinguishedName("cn=x, organizationname=y, EMAILADDRESS=a@b");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(FormatDistinguishedName(name->get()), "CN=x, O=y, emailAddress=a@b");
  // RFC 4514 hex escapes, as OpenSSL's RFC 2253 output writes UTF-8.
  name = ParseDistinguishedName("CN=J\\C3\\BCrgen\\2C Inc");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(FormatDistinguishedName(name->get()), "CN=J\xc3\xbcrgen, Inc");
  for (const char* bad : {"", "CN", "FOO=bar", "C=Germany", "CN=x\\"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseDistinguishedName(bad).status()))
        << bad;
  }
}

// A CN with a NUL or another control character reads differently to a
// relying party that uses it as a host name; text beyond ASCII is fine.
TEST(DistinguishedNameTest, SubjectTextWithoutControlCharacters) {
  auto name_with = [](const std::string& cn, int type) {
    X509NamePtr name(X509_NAME_new());
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name.get(), "CN", type,
                                         reinterpret_cast<const unsigned char*>(cn.data()),
                                         static_cast<int>(cn.size()), -1, 0),
              1);
    return name;
  };
  EXPECT_TRUE(CheckSubjectText(name_with("J\xc3\xbcrgen's laptop", MBSTRING_UTF8).get()).ok());
  EXPECT_TRUE(CheckSubjectText(name_with(std::string("\0J\0\xfc", 4), V_ASN1_BMPSTRING).get())
                  .ok());
  for (const std::string& cn : {std::string("admin\0.evil", 11), std::string("a\tb"),
                                std::string("del\x7f"), std::string("c1\xc2\x85")}) {
    absl::Status status = CheckSubjectText(name_with(cn, V_ASN1_UTF8STRING).get());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << cn;
    EXPECT_EQ(status.message(), "subject CN holds a control character");
  }
  // A NUL as a BMPString character, and text broken for its type.
  EXPECT_FALSE(
      CheckSubjectText(name_with(std::string("\0a\0\0", 4), V_ASN1_BMPSTRING).get()).ok());
  EXPECT_FALSE(CheckSubjectText(name_with("\xff\xfe", V_ASN1_UTF8STRING).get()).ok());
}

// Windows writes BMPString for text that is not printable; RFC 5280 wants
// UTF8String (or PrintableString) in new certificates.
TEST(DistinguishedNameTest, LegacyStringTypesBecomeUtf8String) {
  X509NamePtr name(X509_NAME_new());
  const std::string bmp("\0J\0\xfc\0r", 6);  // "Jür" in UCS-2
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name.get(), "O", V_ASN1_PRINTABLESTRING,
                                       reinterpret_cast<const unsigned char*>("Fleet"), -1, -1,
                                       0),
            1);
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name.get(), "CN", V_ASN1_BMPSTRING,
                                       reinterpret_cast<const unsigned char*>(bmp.data()),
                                       static_cast<int>(bmp.size()), -1, 0),
            1);
  // A multi-valued RDN (CN + serialNumber in one set) stays one.
  ASSERT_EQ(X509_NAME_add_entry_by_txt(name.get(), "serialNumber", V_ASN1_PRINTABLESTRING,
                                       reinterpret_cast<const unsigned char*>("42"), -1, -1,
                                       -1),
            1);
  EXPECT_TRUE(HasValuesToReencode(name.get()));
  absl::StatusOr<X509NamePtr> utf8 = WithUtf8Strings(name.get());
  ASSERT_TRUE(utf8.ok()) << utf8.status();
  EXPECT_FALSE(HasValuesToReencode(utf8->get()));
  ASSERT_EQ(X509_NAME_entry_count(utf8->get()), 3);
  const ASN1_STRING* o = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(utf8->get(), 0));
  const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(utf8->get(), 1));
  EXPECT_EQ(ASN1_STRING_type(o), V_ASN1_PRINTABLESTRING);
  EXPECT_EQ(ASN1_STRING_type(cn), V_ASN1_UTF8STRING);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                        ASN1_STRING_length(cn)),
            "J\xc3\xbcr");
  EXPECT_EQ(X509_NAME_ENTRY_set(X509_NAME_get_entry(utf8->get(), 1)),
            X509_NAME_ENTRY_set(X509_NAME_get_entry(utf8->get(), 2)));
  EXPECT_NE(X509_NAME_ENTRY_set(X509_NAME_get_entry(utf8->get(), 0)),
            X509_NAME_ENTRY_set(X509_NAME_get_entry(utf8->get(), 1)));
  // The same name to every comparison renewal and CertPoll make.
  EXPECT_EQ(X509_NAME_cmp(utf8->get(), name.get()), 0);
}

}  // namespace
}  // namespace scep::crypto
