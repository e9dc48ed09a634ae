#ifndef SCEP_COMMON_CRYPTO_DISTINGUISHED_NAME_H_
#define SCEP_COMMON_CRYPTO_DISTINGUISHED_NAME_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

// Parses a distinguished name written as "CN=SCEP Dev CA,O=Example" (a
// backslash escapes the next character, so "\," is a literal comma, and
// with two hex digits is that byte, "\C3\BC" for "ü") or in
// OpenSSL's "/CN=SCEP Dev CA/O=Example" form. RDNs keep the written order;
// values are UTF-8; attribute types in any case ("cn", "commonName").
// InvalidArgument for an empty name, an unknown attribute
// type or a value OpenSSL rejects (e.g. a C= that is not two letters).
absl::StatusOr<X509NamePtr> ParseDistinguishedName(
    absl::string_view text);

// The NID of an attribute type written in any case ("cn", "CN",
// "commonName", "2.5.4.3"); NID_undef when OpenSSL knows no such type.
int AttributeTypeNid(absl::string_view type);

// Whether every attribute value of `name` that is a character string is
// text a relying party reads as written: valid for its string type and
// free of control characters (HasControlCharacter), which a CN used as a
// host name or shown to an administrator would hide ("admin\0.evil").
// InvalidArgument naming the attribute otherwise.
absl::Status CheckSubjectText(const X509_NAME* name);

// `name` with every BMPString, UniversalString and TeletexString value
// re-encoded as UTF8String (RFC 5280 4.1.2.6: new certificates use
// PrintableString or UTF8String; Windows' CryptoAPI writes BMPString for
// text that is not printable); other values as they are, RDNs in order.
// X509_NAME_cmp, and so renewal and CertPoll matching, sees the same name.
// InvalidArgument when a value is not valid for its type.
absl::StatusOr<X509NamePtr> WithUtf8Strings(const X509_NAME* name);

// Whether `name` holds a value WithUtf8Strings re-encodes; when not, the
// name can be used as it is (and the copy saved: the signer's common case).
bool HasValuesToReencode(const X509_NAME* name);

// One-line RFC 2253-style rendering ("CN=SCEP Dev CA, O=Example") in the
// order the RDNs are stored, for summaries and messages.
std::string FormatDistinguishedName(const X509_NAME* name);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_DISTINGUISHED_NAME_H_
