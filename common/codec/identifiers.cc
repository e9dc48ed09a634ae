#include "common/codec/identifiers.h"

#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include "absl/strings/ascii.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"

namespace scep::codec {
namespace {

using IssuerAndSerialPtr =
    crypto::SslPtr<PKCS7_ISSUER_AND_SERIAL, PKCS7_ISSUER_AND_SERIAL_free>;

}  // namespace

absl::StatusOr<std::string> EncodeIssuerAndSerial(const X509_NAME* issuer,
                                                  const ASN1_INTEGER* serial) {
  IssuerAndSerialPtr ias(PKCS7_ISSUER_AND_SERIAL_new());
  if (ias == nullptr || X509_NAME_set(&ias->issuer, issuer) != 1) {
    return crypto::SslInternal("IssuerAndSerialNumber");
  }
  ASN1_INTEGER_free(ias->serial);
  ias->serial = ASN1_INTEGER_dup(serial);
  if (ias->serial == nullptr) return crypto::SslInternal("IssuerAndSerialNumber");
  return crypto::ToDer<PKCS7_ISSUER_AND_SERIAL>(
      ias.get(), [](const PKCS7_ISSUER_AND_SERIAL* p, unsigned char** out) {
        return i2d_PKCS7_ISSUER_AND_SERIAL(const_cast<PKCS7_ISSUER_AND_SERIAL*>(p), out);
      });
}

absl::StatusOr<IssuerAndSerial> DecodeIssuerAndSerial(absl::string_view der) {
  ASSIGN_OR_RETURN(IssuerAndSerialPtr ias,
                   crypto::FromDer<IssuerAndSerialPtr>(
                       der, d2i_PKCS7_ISSUER_AND_SERIAL, "IssuerAndSerialNumber"));
  IssuerAndSerial out;
  out.issuer.reset(X509_NAME_dup(ias->issuer));
  out.serial.reset(ASN1_INTEGER_dup(ias->serial));
  if (out.issuer == nullptr || out.serial == nullptr) {
    return crypto::SslInternal("IssuerAndSerialNumber copy");
  }
  if (SerialHex(out.serial.get()).empty()) {
    return absl::InvalidArgumentError("serial number must be positive");
  }
  return out;
}

absl::StatusOr<std::string> EncodeIssuerAndSubject(const X509_NAME* issuer,
                                                   const X509_NAME* subject) {
  ASSIGN_OR_RETURN(std::string a, crypto::ToDer(issuer, i2d_X509_NAME));
  ASSIGN_OR_RETURN(std::string b, crypto::ToDer(subject, i2d_X509_NAME));
  const int body = static_cast<int>(a.size() + b.size());
  std::string out(ASN1_object_size(1, body, V_ASN1_SEQUENCE), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  ASN1_put_object(&p, 1, body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
  size_t header = p - reinterpret_cast<unsigned char*>(out.data());
  out.replace(header, a.size(), a);
  out.replace(header + a.size(), b.size(), b);
  return out;
}

absl::StatusOr<IssuerAndSubject> DecodeIssuerAndSubject(absl::string_view der) {
  const auto* start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = start;
  long len = 0;
  int tag = 0, cls = 0;
  int ret = ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(der.size()));
  if ((ret & 0x80) != 0 || ret == 0x21 || tag != V_ASN1_SEQUENCE ||
      p + len != start + der.size()) {
    return absl::InvalidArgumentError("malformed IssuerAndSubject");
  }
  const unsigned char* end = p + len;
  IssuerAndSubject out;
  out.issuer.reset(d2i_X509_NAME(nullptr, &p, end - p));
  if (out.issuer == nullptr) return crypto::SslInvalid("IssuerAndSubject issuer");
  out.subject.reset(d2i_X509_NAME(nullptr, &p, end - p));
  if (out.subject == nullptr) return crypto::SslInvalid("IssuerAndSubject subject");
  if (p != end) return absl::InvalidArgumentError("IssuerAndSubject has trailing bytes");
  return out;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  if (serial == nullptr) return "";
  crypto::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr || BN_is_negative(bn.get()) || BN_is_zero(bn.get())) {
    crypto::DrainSslErrors();
    return "";
  }
  std::string bytes(BN_num_bytes(bn.get()), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return Hex(bytes);
}

std::string SerialHexFromText(absl::string_view text) {
  std::string hex;
  hex.reserve(text.size());
  for (char c : text) {
    if (c == ':' || absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    hex.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  // Whole octets only: an odd number of digits is no octet string.
  size_t zeros = 0;
  while (hex.size() % 2 == 0 && hex.size() - zeros > 2 && hex.compare(zeros, 2, "00") == 0) {
    zeros += 2;
  }
  return hex.substr(zeros);
}

absl::StatusOr<std::string> DegenerateCrl(X509_CRL* crl) {
  crypto::CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr,
                              CMS_BINARY | CMS_PARTIAL));
  if (cms == nullptr || CMS_add1_crl(cms.get(), crl) != 1) {
    return crypto::SslInternal("CRL SignedData");
  }
  return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo);
}

absl::StatusOr<crypto::X509CrlPtr> ParseDegenerateCrl(absl::string_view der) {
  ASSIGN_OR_RETURN(crypto::CmsPtr cms,
                   crypto::FromDer<crypto::CmsPtr>(der, d2i_CMS_ContentInfo,
                                                   "CRL SignedData"));
  STACK_OF(X509_CRL)* crls = CMS_get1_crls(cms.get());
  if (crls == nullptr || sk_X509_CRL_num(crls) != 1) {
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return absl::InvalidArgumentError("expected exactly one CRL");
  }
  crypto::X509CrlPtr crl(sk_X509_CRL_value(crls, 0));
  sk_X509_CRL_free(crls);
  return crl;
}

}  // namespace scep::codec
