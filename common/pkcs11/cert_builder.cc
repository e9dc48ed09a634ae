#include "common/pkcs11/cert_builder.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/distinguished_name.h"

namespace scep::pkcs11 {
namespace {

// Tolerates clients whose clocks run a little behind.
constexpr long kBackdateSeconds = 5 * 60;

absl::StatusOr<crypto::Asn1IntegerPtr> RandomSerial() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return crypto::SslInternal("RAND_bytes");
  // Positive (top bit clear) and always 127 bits long (next bit set).
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7F) | 0x40);
  crypto::BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr) return crypto::SslInternal("BN_bin2bn");
  crypto::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) return crypto::SslInternal("BN_to_ASN1_INTEGER");
  return serial;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                          const char* value) {
  crypto::X509ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return crypto::SslInternal(
        absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status AddExtensions(X509* cert, const X509* issuer,
                           CertificateRole role) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, const_cast<X509*>(issuer != nullptr ? issuer : cert),
                 cert, nullptr, nullptr, 0);
  const bool ca = role == CertificateRole::kCa;
  RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_basic_constraints,
                               ca ? "critical,CA:TRUE" : "CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(
      cert, &ctx, NID_key_usage,
      ca ? "critical,keyCertSign,cRLSign,digitalSignature"
         : "critical,digitalSignature,keyEncipherment,dataEncipherment"));
  // The subject key identifier must exist before a self-signed certificate
  // can name it as its authority key identifier.
  RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_subject_key_identifier, "hash"));
  return AddExtension(cert, &ctx, NID_authority_key_identifier,
                      "keyid:always");
}

}  // namespace

absl::StatusOr<crypto::X509Ptr> IssueCertificate(
    const CertificateRequest& request, const X509* issuer,
    EVP_PKEY* issuer_key, const EVP_MD* digest) {
  if (request.subject_key == nullptr || issuer_key == nullptr ||
      digest == nullptr) {
    return absl::InvalidArgumentError("missing key or digest");
  }
  if (request.validity_days < 1 || request.validity_days > kMaxValidityDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity must be 1 to ", kMaxValidityDays, " days, got ",
                     request.validity_days));
  }
  crypto::X509NamePtr subject;
  if (request.subject_name != nullptr) {
    subject.reset(X509_NAME_dup(request.subject_name));
    if (subject == nullptr) return crypto::SslInternal("X509_NAME_dup");
  } else {
    ASSIGN_OR_RETURN(subject, crypto::ParseDistinguishedName(request.subject));
  }
  ASSIGN_OR_RETURN(crypto::Asn1IntegerPtr serial, RandomSerial());

  crypto::X509Ptr cert(X509_new());
  if (cert == nullptr) return crypto::SslInternal("X509_new");
  const X509_NAME* issuer_name =
      issuer != nullptr ? X509_get_subject_name(issuer) : subject.get();
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial.get()) != 1 ||
      X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) ==
          nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), request.validity_days,
                       0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), request.subject_key) != 1) {
    return crypto::SslInternal("filling in certificate fields");
  }
  if (issuer != nullptr) {
    // Never outside the issuer's validity: the CA's and the RA's "now"
    // differ by the seconds in between, and an imported CA may have been
    // signed minutes ago. Verifiers that nest validity refuse otherwise.
    const ASN1_TIME* issuer_not_before = X509_get0_notBefore(issuer);
    const ASN1_TIME* issuer_not_after = X509_get0_notAfter(issuer);
    if ((ASN1_TIME_compare(X509_get0_notBefore(cert.get()), issuer_not_before) < 0 &&
         X509_set1_notBefore(cert.get(), issuer_not_before) != 1) ||
        (ASN1_TIME_compare(X509_get0_notAfter(cert.get()), issuer_not_after) > 0 &&
         X509_set1_notAfter(cert.get(), issuer_not_after) != 1)) {
      return crypto::SslInternal("capping the validity at the issuer's");
    }
    if (ASN1_TIME_compare(X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())) >= 0) {
      return absl::InvalidArgumentError("the issuer's validity has no room for the certificate");
    }
  }
  RETURN_IF_ERROR(AddExtensions(cert.get(), issuer, request.role));

  if (X509_sign(cert.get(), issuer_key, digest) <= 0) {
    return crypto::SslInternal("signing certificate");
  }
  EVP_PKEY* verify_key = issuer != nullptr
                             ? X509_get0_pubkey(issuer)
                             : request.subject_key;
  if (verify_key == nullptr || X509_verify(cert.get(), verify_key) != 1) {
    return crypto::SslInternal(
        "new certificate does not verify with the issuer's public key");
  }
  return cert;
}

absl::StatusOr<std::string> Sha256Fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), md, &length) != 1) {
    return crypto::SslInternal("X509_digest");
  }
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    absl::StrAppendFormat(&out, "%s%02X", i == 0 ? "" : ":", md[i]);
  }
  return out;
}

absl::Status WriteCertificatePem(const X509* cert, const std::string& path) {
  return WriteCertificatesPem({cert}, path);
}

absl::Status WriteCertificatesPem(const std::vector<const X509*>& certs,
                                  const std::string& path) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return crypto::SslInternal("BIO");
  for (const X509* cert : certs) {
    if (PEM_write_bio_X509(bio.get(), cert) != 1) {
      return crypto::SslInternal("PEM encoding certificate");
    }
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(data, size);
    out.close();
    if (!out) {
      return absl::InternalError(absl::StrCat("cannot write '", temp,
                                              "': ", std::strerror(errno)));
    }
  }
  std::error_code error;
  std::filesystem::permissions(
      temp,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
          std::filesystem::perms::group_read |
          std::filesystem::perms::others_read,
      error);
  if (!error) std::filesystem::rename(temp, path, error);
  if (error) {
    std::filesystem::remove(temp);
    return absl::InternalError(
        absl::StrCat("cannot write '", path, "': ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<crypto::X509Ptr> ReadCertificatePem(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  }
  std::string pem((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  crypto::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return crypto::SslInternal("BIO_new_mem_buf");
  crypto::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return crypto::SslInvalid(
        absl::StrCat("'", path, "' holds no PEM certificate"));
  }
  return cert;
}

}  // namespace scep::pkcs11
