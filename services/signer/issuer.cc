#include "services/signer/issuer.h"

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/crypto/der.h"
#include "common/crypto/distinguished_name.h"
#include "common/crypto/ssl_error.h"
#include "services/signer/issuance_policy.h"

namespace scep::signer {
namespace {

// A GeneralName uniformResourceIdentifier holding `uri`; null on failure.
GENERAL_NAME* UriName(const std::string& uri) {
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  if (name == nullptr || value == nullptr ||
      ASN1_STRING_set(value, uri.data(), static_cast<int>(uri.size())) != 1) {
    GENERAL_NAME_free(name);
    ASN1_IA5STRING_free(value);
    return nullptr;
  }
  GENERAL_NAME_set0_value(name, GEN_URI, value);
  return name;
}

// cRLDistributionPoints: one DistributionPoint whose fullName lists `uris`
// (the same CRL at each location), no reasons, no cRLIssuer (RFC 5280
// 4.2.1.13). Non-critical.
absl::Status AddCrlDistributionPoints(X509* cert, const std::vector<std::string>& uris) {
  crypto::CrlDistPointsPtr points(CRL_DIST_POINTS_new());
  DIST_POINT* point = DIST_POINT_new();
  DIST_POINT_NAME* name = DIST_POINT_NAME_new();
  GENERAL_NAMES* full = GENERAL_NAMES_new();
  if (points == nullptr || point == nullptr || name == nullptr || full == nullptr) {
    DIST_POINT_free(point);
    DIST_POINT_NAME_free(name);
    GENERAL_NAMES_free(full);
    return crypto::SslInternal("cRLDistributionPoints");
  }
  name->type = 0;  // fullName
  name->name.fullname = full;
  point->distpoint = name;
  if (sk_DIST_POINT_push(points.get(), point) <= 0) {
    DIST_POINT_free(point);
    return crypto::SslInternal("cRLDistributionPoints");
  }
  for (const std::string& uri : uris) {
    GENERAL_NAME* general = UriName(uri);
    if (general == nullptr || sk_GENERAL_NAME_push(full, general) <= 0) {
      GENERAL_NAME_free(general);
      return crypto::SslInternal("cRLDistributionPoints");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_crl_distribution_points, points.get(), 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return crypto::SslInternal("cRLDistributionPoints");
  }
  return absl::OkStatus();
}

// authorityInfoAccess (RFC 5280 4.2.2.1) with one OCSP AccessDescription
// per `ocsp` URI and one caIssuers per `ca_issuers` URI. Non-critical.
absl::Status AddAuthorityInfoAccess(X509* cert, const std::vector<std::string>& ocsp,
                                    const std::vector<std::string>& ca_issuers) {
  crypto::AuthorityInfoAccessPtr access(AUTHORITY_INFO_ACCESS_new());
  if (access == nullptr) return crypto::SslInternal("authorityInfoAccess");
  for (const auto& [nid, uris] : {std::pair{NID_ad_OCSP, &ocsp},
                                  std::pair{NID_ad_ca_issuers, &ca_issuers}}) {
    for (const std::string& uri : *uris) {
      ACCESS_DESCRIPTION* description = ACCESS_DESCRIPTION_new();
      GENERAL_NAME* location = UriName(uri);
      if (description == nullptr || location == nullptr) {
        ACCESS_DESCRIPTION_free(description);
        GENERAL_NAME_free(location);
        return crypto::SslInternal("authorityInfoAccess");
      }
      ASN1_OBJECT_free(description->method);
      description->method = OBJ_nid2obj(nid);
      GENERAL_NAME_free(description->location);
      description->location = location;
      if (sk_ACCESS_DESCRIPTION_push(access.get(), description) <= 0) {
        ACCESS_DESCRIPTION_free(description);
        return crypto::SslInternal("authorityInfoAccess");
      }
    }
  }
  if (X509_add1_ext_i2d(cert, NID_info_access, access.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return crypto::SslInternal("authorityInfoAccess");
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* cert) {
  // 16 random octets with the top bit cleared (positive) and the next set
  // (no leading zero octet): 127 bits of entropy-bearing serial, within
  // RFC 5280's 20-octet limit.
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof(buf)) != 1) return crypto::SslInternal("RAND_bytes");
  buf[0] = (buf[0] & 0x7f) | 0x40;
  crypto::BignumPtr bn(BN_bin2bn(buf, sizeof(buf), nullptr));
  if (bn == nullptr) return crypto::SslInternal("serial");
  crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr || X509_set_serialNumber(cert, serial.get()) != 1) {
    return crypto::SslInternal("serial");
  }
  return absl::OkStatus();
}

// Copies the request's SubjectPublicKeyInfo as encoded, instead of
// X509_set_pubkey's decode and re-encode of the key (~160 us in OpenSSL 3).
bool CopyPublicKey(X509_REQ* csr, EVP_PKEY* key, X509* cert) {
  ASN1_OBJECT* alg = nullptr;
  int param_type = 0;
  const void* param = nullptr;
  const unsigned char* bits = nullptr;
  int bits_len = 0;
  X509_ALGOR* algor = nullptr;
  if (X509_PUBKEY_get0_param(&alg, &bits, &bits_len, &algor,
                             X509_REQ_get_X509_PUBKEY(csr)) != 1) {
    return false;
  }
  X509_ALGOR_get0(nullptr, &param_type, &param, algor);
  ASN1_OBJECT* alg_copy = OBJ_dup(alg);
  void* param_copy = nullptr;
  if (param_type == V_ASN1_OBJECT) {
    param_copy = OBJ_dup(static_cast<const ASN1_OBJECT*>(param));
  } else if (param_type == V_ASN1_SEQUENCE || param_type == V_ASN1_OCTET_STRING) {
    param_copy = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(param));
  } else if (param_type != V_ASN1_NULL && param_type != V_ASN1_UNDEF) {
    ASN1_OBJECT_free(alg_copy);
    return X509_set_pubkey(cert, key) == 1;  // rare shapes
  }
  unsigned char* bits_copy = static_cast<unsigned char*>(OPENSSL_memdup(bits, bits_len));
  X509_PUBKEY* pub = X509_get_X509_PUBKEY(cert);
  if (alg_copy == nullptr || bits_copy == nullptr ||
      X509_PUBKEY_set0_param(pub, alg_copy, param_type, param_copy, bits_copy,
                             bits_len) != 1) {
    ASN1_OBJECT_free(alg_copy);
    OPENSSL_free(bits_copy);
    return false;
  }
  return true;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                          const char* value) {
  crypto::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return crypto::SslInternal("certificate extension");
  }
  return absl::OkStatus();
}

// Copies the subjectAltName requested in the CSR (PKCS#9 extensionRequest),
// as decoded: what the issuance policy then checks is what is signed. A
// request with two (which the gateway's policy once read as none, and the
// first was copied) or a broken one is refused here too.
absl::Status CopySubjectAltName(X509_REQ* csr, X509* cert, bool* copied) {
  *copied = false;
  absl::StatusOr<crypto::GeneralNamesPtr> names = codec::RequestedSubjectAltName(csr);
  if (!names.ok()) return names.status();
  if (*names == nullptr) return absl::OkStatus();
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names->get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return crypto::SslInternal("SAN");
  }
  *copied = true;
  return absl::OkStatus();
}

// keyUsage bit numbers (RFC 5280 4.2.1.3) that do not apply to `key`'s
// algorithm: keyEncipherment and dataEncipherment for EC keys (RFC 5480
// section 3: MUST NOT), keyAgreement, encipherOnly and decipherOnly for RSA
// keys (RFC 3279 section 2.3.1 allows only the others).
std::vector<int> InapplicableKeyUsages(EVP_PKEY* key) {
  switch (EVP_PKEY_base_id(key)) {
    case EVP_PKEY_EC: return {2, 3};
    case EVP_PKEY_RSA: return {4, 7, 8};
    default: return {};
  }
}

// The critical keyUsage extension of `names` (OpenSSL names, comma-
// separated) less what does not apply to `key`: a profile's
// [digitalSignature, keyEncipherment] gives an EC key digitalSignature.
// InvalidArgument when nothing is left.
absl::Status AddKeyUsage(X509* cert, X509V3_CTX* ctx, const std::string& names, EVP_PKEY* key) {
  crypto::X509ExtPtr asked(X509V3_EXT_conf_nid(nullptr, ctx, NID_key_usage, names.c_str()));
  crypto::Asn1BitStringPtr bits(
      asked == nullptr ? nullptr : static_cast<ASN1_BIT_STRING*>(X509V3_EXT_d2i(asked.get())));
  if (bits == nullptr) return crypto::SslInternal("certificate extension");
  for (int bit : InapplicableKeyUsages(key)) {
    if (ASN1_BIT_STRING_set_bit(bits.get(), bit, 0) != 1) return crypto::SslInternal("keyUsage");
  }
  bool any = false;
  for (int bit = 0; bit <= 8; ++bit) any = any || ASN1_BIT_STRING_get_bit(bits.get(), bit) == 1;
  if (!any) {
    // Only EC and RSA keys lose usages here.
    return absl::InvalidArgumentError(
        absl::StrCat("none of the key usages ", names, " applies to an ",
                     EVP_PKEY_base_id(key) == EVP_PKEY_EC ? "EC" : "RSA", " key"));
  }
  if (X509_add1_ext_i2d(cert, NID_key_usage, bits.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return crypto::SslInternal("keyUsage");
  }
  return absl::OkStatus();
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// [now - 5 min, now + days], within the CA's own validity: a certificate
// that outlives or predates its issuer fails path validation (RFC 5280
// 6.1.3). An expired CA issues nothing: capped at its notAfter, its
// certificates ended before they began. FailedPrecondition (an operator
// problem: the CA must be renewed or rolled over), carrying rule
// "ca_expired" so the refusal is counted and audited.
absl::Status SetValidity(X509* cert, X509* ca, const IssueParams& params) {
  const absl::Time ca_not_before =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notBefore(ca)));
  const absl::Time ca_not_after =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(ca)));
  if (params.now >= ca_not_after) {
    return WithIssuanceRule(absl::FailedPreconditionError(absl::StrCat(
                                "the CA certificate has expired (notAfter ",
                                TimeText(ca_not_after), ")")),
                            "ca_expired");
  }
  const absl::Time asked_before = params.now - absl::Minutes(5);
  const absl::Time asked_after = params.now + absl::Hours(24) * params.validity_days;
  if (std::min(asked_after, ca_not_after) <= std::max(asked_before, ca_not_before)) {
    return WithIssuanceRule(
        absl::FailedPreconditionError(absl::StrCat(
            "the CA certificate's validity (", TimeText(ca_not_before), " to ",
            TimeText(ca_not_after), ") leaves no time for a certificate")),
        "ca_expired");
  }
  // Where the CA's times bound the certificate's, they are copied as they are.
  const bool before_set =
      asked_before < ca_not_before
          ? X509_set1_notBefore(cert, X509_get0_notBefore(ca)) == 1
          : ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(asked_before)) != nullptr;
  const bool after_set =
      asked_after > ca_not_after
          ? X509_set1_notAfter(cert, X509_get0_notAfter(ca)) == 1
          : ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(asked_after)) != nullptr;
  if (!before_set || !after_set) return crypto::SslInternal("certificate validity");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<crypto::X509Ptr> BuildCertificate(X509_REQ* csr, EVP_PKEY* key,
                                                 X509* ca,
                                                 const IssueParams& params) {
  if (params.validity_days < 1 || params.validity_days > 3650) {
    return absl::InvalidArgumentError("validity must be 1..3650 days");
  }
  if (key == nullptr) return absl::InvalidArgumentError("request public key");
  crypto::X509Ptr cert(X509_new());
  if (cert == nullptr) return crypto::SslInternal("X509_new");
  X509* x = cert.get();
  RETURN_IF_ERROR(SetRandomSerial(x));
  // As RFC 5280 4.1.2.6 wants for new certificates: a BMPString subject
  // (Windows) is issued as UTF8String.
  const X509_NAME* subject =
      params.subject != nullptr ? params.subject : X509_REQ_get_subject_name(csr);
  crypto::X509NamePtr reencoded;
  if (crypto::HasValuesToReencode(subject)) {
    ASSIGN_OR_RETURN(reencoded, crypto::WithUtf8Strings(subject));
    subject = reencoded.get();
  }
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
      X509_set_subject_name(x, subject) != 1 ||
      !CopyPublicKey(csr, key, x)) {
    return crypto::SslInternal("certificate fields");
  }
  RETURN_IF_ERROR(SetValidity(x, ca, params));

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, x, nullptr, nullptr, 0);
  const bool is_ec = EVP_PKEY_base_id(key) == EVP_PKEY_EC;
  RETURN_IF_ERROR(AddExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  const std::string key_usage =
      params.key_usage.empty()
          ? std::string(is_ec ? "digitalSignature,keyAgreement"
                              : "digitalSignature,keyEncipherment")
          : absl::StrJoin(params.key_usage, ",");
  RETURN_IF_ERROR(AddKeyUsage(x, &ctx, key_usage, key));
  const std::string eku = params.extended_key_usage.empty()
                              ? std::string("clientAuth")
                              : absl::StrJoin(params.extended_key_usage, ",");
  RETURN_IF_ERROR(AddExtension(x, &ctx, NID_ext_key_usage, eku.c_str()));
  RETURN_IF_ERROR(AddExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  // A CA certificate without SKI (imported from elsewhere) is identified
  // by issuer and serial instead.
  RETURN_IF_ERROR(AddExtension(
      x, &ctx, NID_authority_key_identifier,
      X509_get0_subject_key_id(ca) != nullptr ? "keyid:always" : "issuer:always"));
  bool has_san = false;
  if (params.subject_alt_name != nullptr) {
    if (sk_GENERAL_NAME_num(params.subject_alt_name) > 0) {
      if (X509_add1_ext_i2d(x, NID_subject_alt_name, params.subject_alt_name, 0,
                            X509V3_ADD_DEFAULT) != 1) {
        return crypto::SslInternal("SAN");
      }
      has_san = true;
    }
  } else {
    RETURN_IF_ERROR(CopySubjectAltName(csr, x, &has_san));
  }
  const bool empty_subject = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
  if (!has_san && empty_subject) {
    return absl::InvalidArgumentError("request has neither subject nor SAN");
  }
  if (has_san) {
    // RFC 5280 4.2.1.6: critical when the subject is empty (the identity is
    // in the SAN alone), not critical otherwise, whatever the request said.
    X509_EXTENSION* san = X509_get_ext(x, X509_get_ext_by_NID(x, NID_subject_alt_name, -1));
    if (san == nullptr || X509_EXTENSION_set_critical(san, empty_subject ? 1 : 0) != 1) {
      return crypto::SslInternal("SAN criticality");
    }
  }
  if (!params.crl_distribution_points.empty()) {
    RETURN_IF_ERROR(crypto::CheckPublicationUris(
        params.crl_distribution_points, "crl_distribution_points", /*ldap_allowed=*/true));
    RETURN_IF_ERROR(AddCrlDistributionPoints(x, params.crl_distribution_points));
  }
  if (!params.ca_issuers.empty() || !params.ocsp_urls.empty()) {
    RETURN_IF_ERROR(crypto::CheckPublicationUris(params.ca_issuers, "ca_issuers",
                                                 /*ldap_allowed=*/false));
    RETURN_IF_ERROR(crypto::CheckPublicationUris(params.ocsp_urls, "ocsp_urls",
                                                 /*ldap_allowed=*/false));
    RETURN_IF_ERROR(AddAuthorityInfoAccess(x, params.ocsp_urls, params.ca_issuers));
  }
  return cert;
}

absl::Status SignCertificate(X509* cert, EVP_PKEY* key, const EVP_MD* digest) {
  if (X509_sign(cert, key, digest != nullptr ? digest : EVP_sha256()) <= 0) {
    return crypto::SslInternal("signing certificate with the CA key");
  }
  return absl::OkStatus();
}

}  // namespace scep::signer
