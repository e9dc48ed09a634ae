#include "common/crypto/san_syntax.h"

#include <openssl/objects.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/crypto/asn1_text.h"

namespace scep::crypto {
namespace {

constexpr size_t kShownChars = 100;

absl::string_view Bytes(const ASN1_STRING* s) {
  return absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
}

absl::Status Refused(absl::string_view type, absl::string_view value, absl::string_view rule) {
  std::string shown = absl::CHexEscape(value.substr(0, kShownChars));
  if (value.size() > kShownChars) shown += "...";
  return absl::InvalidArgumentError(
      absl::StrCat("subjectAltName ", type, ":", shown, " is not ", rule));
}

bool PrintableAscii(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x21 && c <= 0x7e;
  });
}

bool LdhLabel(absl::string_view label) {
  return !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
         std::all_of(label.begin(), label.end(),
                     [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                                         c == '-' || c == '_'; });
}

bool HostName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (!LdhLabel(label)) return false;
  }
  return true;
}

bool Mailbox(absl::string_view address) {
  const size_t at = address.find('@');
  return PrintableAscii(address) && at != absl::string_view::npos && at > 0 &&
         address.find('@', at + 1) == absl::string_view::npos && HostName(address.substr(at + 1));
}

bool AbsoluteUri(absl::string_view uri) {
  const size_t colon = uri.find(':');
  if (!PrintableAscii(uri) || colon == absl::string_view::npos || colon == 0 ||
      colon + 1 == uri.size() || !absl::ascii_isalpha(static_cast<unsigned char>(uri[0]))) {
    return false;
  }
  return std::all_of(uri.begin() + 1, uri.begin() + colon, [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' ||
           c == '.';
  });
}

bool PrincipalName(const ASN1_STRING* value) {
  if (!Utf8Text(value, "UPN").ok()) return false;  // broken UTF-8
  const absl::string_view text = Bytes(value);
  if (HasControlCharacter(text)) return false;
  const size_t at = text.find('@');
  return at != absl::string_view::npos && at > 0 && at + 1 < text.size() &&
         text.find('@', at + 1) == absl::string_view::npos;
}

}  // namespace

absl::Status CheckSubjectAltNameSyntax(const GENERAL_NAME* name) {
  switch (name->type) {
    case GEN_DNS:
      if (!HostName(Bytes(name->d.dNSName))) {
        return Refused("dns", Bytes(name->d.dNSName),
                       "a DNS host name (dot-separated labels of letters, digits, hyphens and "
                       "underscores; "
                       "no wildcard)");
      }
      return absl::OkStatus();
    case GEN_EMAIL:
      if (!Mailbox(Bytes(name->d.rfc822Name))) {
        return Refused("email", Bytes(name->d.rfc822Name),
                       "an email address (printable ASCII, one @, then a DNS domain)");
      }
      return absl::OkStatus();
    case GEN_URI:
      if (!AbsoluteUri(Bytes(name->d.uniformResourceIdentifier))) {
        return Refused("uri", Bytes(name->d.uniformResourceIdentifier),
                       "an absolute URI in printable ASCII");
      }
      return absl::OkStatus();
    case GEN_IPADD: {
      const int length = ASN1_STRING_length(name->d.iPAddress);
      if (length != 4 && length != 16) {
        return absl::InvalidArgumentError(
            absl::StrCat("subjectAltName ip of ", length, " octets is not an IP address"));
      }
      return absl::OkStatus();
    }
    case GEN_OTHERNAME: {
      const OTHERNAME* other = name->d.otherName;
      if (OBJ_obj2nid(other->type_id) != NID_ms_upn) return absl::OkStatus();
      if (other->value == nullptr || other->value->type != V_ASN1_UTF8STRING) {
        return absl::InvalidArgumentError("subjectAltName upn is not a UTF8String");
      }
      if (!PrincipalName(other->value->value.utf8string)) {
        return Refused("upn", Bytes(other->value->value.utf8string),
                       "a user principal name (UTF-8 without control characters, one @)");
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

}  // namespace scep::crypto
