#include "common/crypto/asn1_text.h"

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {

const char* StringTypeName(int type) {
  switch (type) {
    case V_ASN1_UTF8STRING: return "UTF8String";
    case V_ASN1_PRINTABLESTRING: return "PrintableString";
    case V_ASN1_IA5STRING: return "IA5String";
    case V_ASN1_VISIBLESTRING: return "VisibleString";
    case V_ASN1_T61STRING: return "TeletexString";
    case V_ASN1_BMPSTRING: return "BMPString";
    case V_ASN1_UNIVERSALSTRING: return "UniversalString";
    case V_ASN1_NUMERICSTRING: return "NumericString";
    default: return "not a character string";
  }
}

absl::StatusOr<std::string> Utf8Text(const ASN1_STRING* s, absl::string_view what) {
  if (s == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is missing"));
  const int type = ASN1_STRING_type(s);
  switch (type) {
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_NUMERICSTRING:
      // 7-bit types, taken as they are (as before: a client that put UTF-8
      // into a PrintableString keeps matching its secret).
      return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    case V_ASN1_UTF8STRING:
    case V_ASN1_T61STRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has the wrong type (", StringTypeName(type), ")"));
  }
  // ASN1_STRING_to_UTF8 checks UTF-8 and BMPString / UniversalString
  // lengths and refuses surrogates and code points past U+10FFFF.
  unsigned char* out = nullptr;
  const int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) {
    DrainSslErrors();
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a valid ", StringTypeName(type)));
  }
  std::string text(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return text;
}

bool HasControlCharacter(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return true;
    // C1 is U+0080..U+009F: 0xC2 0x80..0x9F in UTF-8.
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      return true;
    }
  }
  return false;
}

}  // namespace scep::crypto
