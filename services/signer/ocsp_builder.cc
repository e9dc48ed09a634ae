#include "services/signer/ocsp_builder.h"

#include <openssl/bn.h>

#include "absl/strings/str_cat.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"

namespace scep::signer {
namespace {

using OcspCertIdPtr = crypto::SslPtr<OCSP_CERTID, OCSP_CERTID_free>;
using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;

constexpr size_t kMaxStatuses = 16;

}  // namespace

absl::StatusOr<OcspBasicPtr> BuildOcspResponse(X509* ca, const OcspParams& params) {
  const EVP_MD* md = params.cert_id_digest == "sha1"     ? EVP_sha1()
                     : params.cert_id_digest == "sha256" ? EVP_sha256()
                                                         : nullptr;
  if (md == nullptr) return absl::InvalidArgumentError("CertID digest must be sha1 or sha256");
  if (params.statuses.empty() || params.statuses.size() > kMaxStatuses) {
    return absl::InvalidArgumentError(
        absl::StrCat("an OCSP response answers 1 to ", kMaxStatuses, " certificates"));
  }
  if (params.next_update < params.this_update) {
    return absl::InvalidArgumentError("nextUpdate before thisUpdate");
  }
  if (params.nonce.size() > kMaxOcspNonceValue) {
    return absl::InvalidArgumentError("OCSP nonce longer than 32 octets (RFC 8954)");
  }
  OcspBasicPtr basic(OCSP_BASICRESP_new());
  crypto::Asn1TimePtr this_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.this_update)));
  crypto::Asn1TimePtr next_update(ASN1_TIME_set(nullptr, absl::ToTimeT(params.next_update)));
  if (basic == nullptr || this_update == nullptr || next_update == nullptr) {
    return crypto::SslInternal("OCSP response");
  }
  for (const OcspStatus& status : params.statuses) {
    if (status.serial.empty() || status.serial.size() > 20) {
      return absl::InvalidArgumentError("OCSP serial must be 1..20 octets");
    }
    if (status.kind == OcspStatus::Kind::kRevoked &&
        (status.reason < -1 || status.reason > 10 || status.reason == 7)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown CRLReason ", status.reason));
    }
    crypto::BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(status.serial.data()),
                                   static_cast<int>(status.serial.size()), nullptr));
    crypto::Asn1IntegerPtr serial(bn == nullptr ? nullptr : BN_to_ASN1_INTEGER(bn.get(), nullptr));
    OcspCertIdPtr id(serial == nullptr ? nullptr
                                       : OCSP_cert_id_new(md, X509_get_subject_name(ca),
                                                          X509_get0_pubkey_bitstr(ca),
                                                          serial.get()));
    if (id == nullptr) return crypto::SslInternal("OCSP CertID");
    int kind = V_OCSP_CERTSTATUS_UNKNOWN;
    crypto::Asn1TimePtr revoked_at;
    if (status.kind == OcspStatus::Kind::kGood) kind = V_OCSP_CERTSTATUS_GOOD;
    if (status.kind == OcspStatus::Kind::kRevoked) {
      kind = V_OCSP_CERTSTATUS_REVOKED;
      revoked_at.reset(ASN1_TIME_set(nullptr, absl::ToTimeT(status.revoked_at)));
      if (revoked_at == nullptr) return crypto::SslInternal("OCSP revocationTime");
    }
    // OCSP_basic_add1_status copies the CertID and the times. No
    // revocationReason for unspecified (0), as the CRL has no reasonCode
    // for it (RFC 5280 5.3.1); OCSP_REVOKED_STATUS_NOSTATUS (-1) leaves it out.
    const int reason = status.reason > 0 ? status.reason : OCSP_REVOKED_STATUS_NOSTATUS;
    if (OCSP_basic_add1_status(basic.get(), id.get(), kind, reason, revoked_at.get(),
                               this_update.get(), next_update.get()) == nullptr) {
      return crypto::SslInternal("OCSP SingleResponse");
    }
  }
  if (!params.nonce.empty()) {
    // The request's extnValue as it came, so that OCSP_check_nonce (a
    // byte comparison) matches whatever encoding the client chose.
    crypto::Asn1StringPtr value(ASN1_OCTET_STRING_new());
    if (value == nullptr ||
        ASN1_OCTET_STRING_set(value.get(),
                              reinterpret_cast<const unsigned char*>(params.nonce.data()),
                              static_cast<int>(params.nonce.size())) != 1) {
      return crypto::SslInternal("OCSP nonce");
    }
    crypto::X509ExtPtr extension(
        X509_EXTENSION_create_by_NID(nullptr, NID_id_pkix_OCSP_Nonce, 0, value.get()));
    if (extension == nullptr || OCSP_BASICRESP_add_ext(basic.get(), extension.get(), -1) != 1) {
      return crypto::SslInternal("OCSP nonce extension");
    }
  }
  return basic;
}

absl::StatusOr<std::string> SignOcspResponse(OCSP_BASICRESP* basic, X509* ca, EVP_PKEY* key) {
  // The CA certificate goes into certs: OpenSSL relying parties
  // (FreeRADIUS, OCSP_basic_verify with no untrusted certificates) find the
  // signer only there, even when their store trusts the CA (RFC 6960
  // section 4.2.1 lets a response carry it).
  if (OCSP_basic_sign(basic, ca, key, EVP_sha256(), nullptr, OCSP_RESPID_KEY) != 1) {
    return crypto::SslInternal("signing OCSP response with the CA key");
  }
  OcspResponsePtr response(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic));
  if (response == nullptr) return crypto::SslInternal("OCSPResponse");
  return crypto::ToDer(response.get(), i2d_OCSP_RESPONSE);
}

}  // namespace scep::signer
