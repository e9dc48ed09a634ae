#include "services/gateway/crl_contents.h"

#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::gateway {

absl::StatusOr<CrlContents> ReadCrl(absl::string_view crl, const X509* issuer) {
  if (crl.empty()) return absl::InvalidArgumentError("CRL: empty");
  absl::StatusOr<crypto::X509CrlPtr> parsed = crypto::CrlFromDerOrPem(crl);
  if (!parsed.ok()) return parsed.status();
  X509_CRL* x = parsed->get();
  if (issuer != nullptr) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(x), X509_get_subject_name(issuer)) != 0) {
      return absl::InvalidArgumentError("CRL: issued by another CA");
    }
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    if (key == nullptr || X509_CRL_verify(x, key) != 1) {
      return absl::InvalidArgumentError("CRL: signature does not verify with the CA's key");
    }
  }
  CrlContents out;
  int critical = 0;
  crypto::Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(x, NID_crl_number, &critical, nullptr)));
  if (number != nullptr && ASN1_INTEGER_get_uint64(&out.number, number.get()) != 1) {
    return absl::InvalidArgumentError("CRL: unreadable cRLNumber");
  }
  out.this_update = absl::FromUnixSeconds(crypto::UnixSeconds(X509_CRL_get0_lastUpdate(x)));
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(x);
  const int n = sk_X509_REVOKED_num(revoked);
  out.revoked.reserve(n > 0 ? static_cast<size_t>(n) : 0);
  for (int i = 0; i < n; ++i) {
    const X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
    redis::RevokedSerial serial;
    serial.serial_hex = codec::SerialHex(X509_REVOKED_get0_serialNumber(entry));
    if (!redis::ValidateSerialHex(serial.serial_hex).ok()) {
      return absl::InvalidArgumentError(absl::StrCat("CRL: entry ", i, ": unusable serial"));
    }
    serial.revoked_at =
        absl::FromUnixSeconds(crypto::UnixSeconds(X509_REVOKED_get0_revocationDate(entry)));
    crypto::SslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> reason(
        static_cast<ASN1_ENUMERATED*>(
            X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &critical, nullptr)));
    serial.reason = reason == nullptr ? 0 : static_cast<int>(ASN1_ENUMERATED_get(reason.get()));
    if (serial.reason < 0 || serial.reason > 10) {
      return absl::InvalidArgumentError(absl::StrCat("CRL: entry ", i, ": bad reasonCode"));
    }
    out.revoked.push_back(std::move(serial));
  }
  return out;
}

}  // namespace scep::gateway
