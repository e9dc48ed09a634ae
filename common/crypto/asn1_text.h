#ifndef SCEP_COMMON_CRYPTO_ASN1_TEXT_H_
#define SCEP_COMMON_CRYPTO_ASN1_TEXT_H_

#include <openssl/asn1.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::crypto {

// The UTF-8 text of a character string of any ASN.1 string type, as a
// DirectoryString (a subject's attribute, PKCS#9 challengePassword) may be
// encoded: UTF8String, PrintableString, IA5String and VisibleString as they
// are, BMPString (UCS-2, which Windows' CryptoAPI writes for text that is not
// printable) and UniversalString (UCS-4) converted, TeletexString read as
// Latin-1 as OpenSSL reads it. InvalidArgument naming `what` when the bytes
// are not valid for their type (odd-length BMPString, a surrogate, broken
// UTF-8), or for a type that is not a character string. The 7-bit types are
// not checked for high bytes.
absl::StatusOr<std::string> Utf8Text(const ASN1_STRING* s, absl::string_view what);

// Whether UTF-8 `text` holds a control character: C0 (NUL included), DEL
// or C1 (U+0080..U+009F), which a reader of a name or a message would not
// see as written.
bool HasControlCharacter(absl::string_view text);

// The ASN.1 type name ("BMPString") for error messages.
const char* StringTypeName(int type);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_ASN1_TEXT_H_
