#ifndef SCEP_COMMON_CODEC_IDENTIFIERS_H_
#define SCEP_COMMON_CODEC_IDENTIFIERS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

// The contents of the pkcsPKIEnvelope for CertPoll, GetCert and GetCRL
// (RFC 8894 sections 3.3.3 and 3.3.4), and the CRL reply payload.

struct IssuerAndSerial {
  crypto::X509NamePtr issuer;
  crypto::Asn1IntegerPtr serial;
};

struct IssuerAndSubject {
  crypto::X509NamePtr issuer;
  crypto::X509NamePtr subject;
};

absl::StatusOr<std::string> EncodeIssuerAndSerial(const X509_NAME* issuer,
                                                  const ASN1_INTEGER* serial);
// InvalidArgument when malformed or the serial is not positive.
absl::StatusOr<IssuerAndSerial> DecodeIssuerAndSerial(absl::string_view der);

absl::StatusOr<std::string> EncodeIssuerAndSubject(const X509_NAME* issuer,
                                                   const X509_NAME* subject);
absl::StatusOr<IssuerAndSubject> DecodeIssuerAndSubject(absl::string_view der);

// Lower-case hex of a positive serial's magnitude, without leading zero
// octets: the certificate index key. "" for a negative or absent serial.
std::string SerialHex(const ASN1_INTEGER* serial);

// A serial as people copy it ("4A:BC:01" from `openssl x509 -text`,
// "4a bc 01" or "00 4A BC 01" from certificate viewers) in the form of
// SerialHex: ':' and whitespace dropped, lower case, leading zero octets
// dropped. Whether the result is hex at all is not checked here
// (redis::ValidateSerialHex).
std::string SerialHexFromText(absl::string_view text);

// A degenerate SignedData carrying `crl` in its crls field (the GetCRL
// SUCCESS payload, RFC 8894 section 3.3.4).
absl::StatusOr<std::string> DegenerateCrl(X509_CRL* crl);
absl::StatusOr<crypto::X509CrlPtr> ParseDegenerateCrl(absl::string_view der);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_IDENTIFIERS_H_
