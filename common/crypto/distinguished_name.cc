#include "common/crypto/distinguished_name.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto/asn1_text.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {
namespace {

// Splits on unescaped `separator`, removing the escaping backslashes; a
// backslash and two hex digits is that byte (RFC 4514 section 2.4, as
// OpenSSL prints UTF-8: "CN=J\C3\BCrgen").
absl::StatusOr<std::vector<std::string>> SplitUnescaped(absl::string_view text,
                                                        char separator) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size()) {
        return absl::InvalidArgumentError("distinguished name ends in '\\'");
      }
      if (i + 2 < text.size() && absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 1])) &&
          absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        parts.back().append(absl::HexStringToBytes(text.substr(i + 1, 2)));
        i += 2;
        continue;
      }
      parts.back().push_back(text[++i]);
    } else if (c == separator) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

}  // namespace

// Attribute types are case-insensitive (RFC 4514 section 3): "cn", "CN",
// "commonName", "COMMONNAME" or "2.5.4.3".
int AttributeTypeNid(absl::string_view type_text) {
  const std::string type(type_text);
  int nid = OBJ_txt2nid(type.c_str());
  if (nid != NID_undef) return nid;
  nid = OBJ_txt2nid(absl::AsciiStrToUpper(type).c_str());
  if (nid != NID_undef) return nid;
  static constexpr int kNamed[] = {
      NID_commonName, NID_countryName, NID_localityName, NID_stateOrProvinceName,
      NID_organizationName, NID_organizationalUnitName, NID_pkcs9_emailAddress,
      NID_serialNumber, NID_domainComponent, NID_userId, NID_title, NID_givenName,
      NID_surname, NID_streetAddress, NID_postalCode};
  for (int candidate : kNamed) {
    if (absl::EqualsIgnoreCase(type, OBJ_nid2ln(candidate)) ||
        absl::EqualsIgnoreCase(type, OBJ_nid2sn(candidate))) {
      return candidate;
    }
  }
  return NID_undef;
}

absl::StatusOr<X509NamePtr> ParseDistinguishedName(
    absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  char separator = ',';
  if (absl::ConsumePrefix(&text, "/")) separator = '/';
  absl::StatusOr<std::vector<std::string>> parts =
      SplitUnescaped(text, separator);
  if (!parts.ok()) return parts.status();

  X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return SslInternal("X509_NAME_new");
  for (const std::string& part : *parts) {
    absl::string_view rdn = absl::StripAsciiWhitespace(part);
    if (rdn.empty()) continue;
    size_t equals = rdn.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", rdn, "' in distinguished name is not type=value"));
    }
    std::string type(absl::StripAsciiWhitespace(rdn.substr(0, equals)));
    std::string value(absl::StripAsciiWhitespace(rdn.substr(equals + 1)));
    const int nid = AttributeTypeNid(type);
    if (nid == NID_undef) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attribute type '", type,
                       "' in distinguished name"));
    }
    if (value.empty() ||
        X509_NAME_add_entry_by_NID(
            name.get(), nid, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(value.data()),
            static_cast<int>(value.size()), -1, 0) != 1) {
      return SslInvalid(
          absl::StrCat("invalid value for '", type, "' in distinguished name"));
    }
  }
  if (X509_NAME_entry_count(name.get()) == 0) {
    return absl::InvalidArgumentError("distinguished name is empty");
  }
  return name;
}

absl::Status CheckSubjectText(const X509_NAME* name) {
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    const int type = ASN1_STRING_type(value);
    if (std::string_view(StringTypeName(type)) == "not a character string") continue;
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    const std::string attribute = nid != NID_undef ? OBJ_nid2sn(nid) : "attribute";
    absl::StatusOr<std::string> text = Utf8Text(value, "subject " + attribute);
    if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
    if (HasControlCharacter(*text)) {
      return absl::InvalidArgumentError(
          absl::StrCat("subject ", attribute, " holds a control character"));
    }
  }
  return absl::OkStatus();
}

namespace {

bool IsReencoded(int type) {
  return type == V_ASN1_BMPSTRING || type == V_ASN1_UNIVERSALSTRING ||
         type == V_ASN1_T61STRING;
}

}  // namespace

bool HasValuesToReencode(const X509_NAME* name) {
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    if (IsReencoded(ASN1_STRING_type(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))))) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<X509NamePtr> WithUtf8Strings(const X509_NAME* name) {
  X509NamePtr out(X509_NAME_new());
  if (out == nullptr) return SslInternal("X509_NAME_new");
  int previous_set = -1;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    const int type = ASN1_STRING_type(value);
    // A multi-valued RDN stays one: "set" numbers the RDN an entry is in.
    const int set = X509_NAME_ENTRY_set(entry);
    const int loc_set = set == previous_set ? -1 : 0;
    previous_set = set;
    std::string utf8;
    const unsigned char* bytes = ASN1_STRING_get0_data(value);
    int length = ASN1_STRING_length(value);
    int new_type = type;
    if (IsReencoded(type)) {
      absl::StatusOr<std::string> text = Utf8Text(value, "subject attribute");
      if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
      utf8 = *std::move(text);
      bytes = reinterpret_cast<const unsigned char*>(utf8.data());
      length = static_cast<int>(utf8.size());
      new_type = V_ASN1_UTF8STRING;
    }
    if (X509_NAME_add_entry_by_OBJ(out.get(), X509_NAME_ENTRY_get_object(entry), new_type,
                                   bytes, length, -1, loc_set) != 1) {
      return SslInternal("copying a name attribute");
    }
  }
  return out;
}

std::string FormatDistinguishedName(const X509_NAME* name) {
  std::string out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    const char* type = nid != NID_undef ? OBJ_nid2sn(nid) : "?";
    unsigned char* utf8 = nullptr;
    int length =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    OpenSslStringPtr owned(reinterpret_cast<char*>(utf8));
    absl::StrAppend(&out, out.empty() ? "" : ", ", type, "=",
                    length >= 0 ? absl::string_view(owned.get(), length)
                                : absl::string_view("?"));
  }
  return out;
}

}  // namespace scep::crypto
