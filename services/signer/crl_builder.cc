#include "services/signer/crl_builder.h"

#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"

namespace scep::signer {
namespace {

absl::Status AddRevoked(X509_CRL* crl, const RevokedEntry& entry) {
  if (entry.serial.empty() || entry.serial.size() > 20) {
    return absl::InvalidArgumentError("revoked serial must be 1..20 octets");
  }
  // RFC 5280 CRLReason: 0..10 without 7.
  if (entry.reason < -1 || entry.reason > 10 || entry.reason == 7) {
    return absl::InvalidArgumentError("unknown CRL reason");
  }
  crypto::X509RevokedPtr rev(X509_REVOKED_new());
  crypto::BignumPtr bn(BN_bin2bn(
      reinterpret_cast<const unsigned char*>(entry.serial.data()),
      static_cast<int>(entry.serial.size()), nullptr));
  crypto::Asn1IntegerPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  crypto::Asn1TimePtr when(ASN1_TIME_set(nullptr, absl::ToTimeT(entry.revocation_time)));
  if (rev == nullptr || serial == nullptr || when == nullptr ||
      X509_REVOKED_set_serialNumber(rev.get(), serial.get()) != 1 ||
      X509_REVOKED_set_revocationDate(rev.get(), when.get()) != 1) {
    return crypto::SslInternal("revoked entry");
  }
  // RFC 5280 5.3.1: reasonCode unspecified (0) SHOULD be absent.
  if (entry.reason > 0) {
    crypto::SslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> reason(ASN1_ENUMERATED_new());
    if (reason == nullptr || ASN1_ENUMERATED_set(reason.get(), entry.reason) != 1 ||
        X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, reason.get(), 0, 0) != 1) {
      return crypto::SslInternal("reasonCode");
    }
  }
  if (X509_CRL_add0_revoked(crl, rev.get()) != 1) return crypto::SslInternal("add revoked");
  rev.release();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<crypto::X509CrlPtr> BuildCrl(X509* ca, const CrlParams& params) {
  if (params.next_update <= params.this_update) {
    return absl::InvalidArgumentError("nextUpdate must follow thisUpdate");
  }
  crypto::X509CrlPtr crl(X509_CRL_new());
  crypto::Asn1TimePtr this_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.this_update)));
  crypto::Asn1TimePtr next_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.next_update)));
  if (crl == nullptr || this_update == nullptr || next_update == nullptr ||
      X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) != 1) {
    return crypto::SslInternal("CRL fields");
  }
  for (const RevokedEntry& entry : params.revoked) {
    RETURN_IF_ERROR(AddRevoked(crl.get(), entry));
  }
  X509_CRL_sort(crl.get());
  crypto::Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (number == nullptr || ASN1_INTEGER_set_uint64(number.get(), params.number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return crypto::SslInternal("cRLNumber");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, nullptr, nullptr, crl.get(), 0);
  crypto::X509ExtPtr aki(X509V3_EXT_conf_nid(
      nullptr, &ctx, NID_authority_key_identifier,
      X509_get0_subject_key_id(ca) != nullptr ? "keyid:always" : "issuer:always"));
  if (aki == nullptr || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return crypto::SslInternal("CRL authorityKeyIdentifier");
  }
  return crl;
}

}  // namespace scep::signer
