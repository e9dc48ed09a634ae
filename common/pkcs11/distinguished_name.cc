#include "common/pkcs11/distinguished_name.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto/ssl_error.h"

namespace scep::pkcs11 {
namespace {

// Splits on unescaped `separator`, removing the escaping backslashes.
absl::StatusOr<std::vector<std::string>> SplitUnescaped(absl::string_view text,
                                                        char separator) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size()) {
        return absl::InvalidArgumentError("distinguished name ends in '\\'");
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

absl::StatusOr<crypto::X509NamePtr> ParseDistinguishedName(
    absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  char separator = ',';
  if (absl::ConsumePrefix(&text, "/")) separator = '/';
  absl::StatusOr<std::vector<std::string>> parts =
      SplitUnescaped(text, separator);
  if (!parts.ok()) return parts.status();

  crypto::X509NamePtr name(X509_NAME_new());
  if (name == nullptr) return crypto::SslInternal("X509_NAME_new");
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
    if (OBJ_txt2nid(type.c_str()) == NID_undef) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attribute type '", type,
                       "' in distinguished name"));
    }
    if (value.empty() ||
        X509_NAME_add_entry_by_txt(
            name.get(), type.c_str(), MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(value.data()),
            static_cast<int>(value.size()), -1, 0) != 1) {
      return crypto::SslInvalid(
          absl::StrCat("invalid value for '", type, "' in distinguished name"));
    }
  }
  if (X509_NAME_entry_count(name.get()) == 0) {
    return absl::InvalidArgumentError("distinguished name is empty");
  }
  return name;
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
    crypto::OpenSslStringPtr owned(reinterpret_cast<char*>(utf8));
    absl::StrAppend(&out, out.empty() ? "" : ", ", type, "=",
                    length >= 0 ? absl::string_view(owned.get(), length)
                                : absl::string_view("?"));
  }
  return out;
}

}  // namespace scep::pkcs11
