#include "common/codec/client.h"

#include <openssl/cms.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

namespace {

// `utf8` as the content octets of ASN.1 string type `type` (0: as it is,
// with MBSTRING_UTF8 for OpenSSL to choose the type).
struct Encoded {
  int type = MBSTRING_UTF8;
  std::string bytes;
};

absl::StatusOr<Encoded> EncodeText(const std::string& utf8, int type) {
  if (type == 0) return Encoded{MBSTRING_UTF8, utf8};
  ASN1_STRING* out = nullptr;
  if (ASN1_mbstring_copy(&out, reinterpret_cast<const unsigned char*>(utf8.data()),
                         static_cast<int>(utf8.size()), MBSTRING_UTF8,
                         ASN1_tag2bit(type)) < 0) {
    return crypto::SslInvalid("text not representable in the requested string type");
  }
  Encoded e{type, std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(out)),
                              static_cast<size_t>(ASN1_STRING_length(out)))};
  ASN1_STRING_free(out);
  return e;
}

// EnvelopedData streamed as BER: indefinite lengths, the encrypted content
// in chunks (what `openssl cms -encrypt -stream` and BouncyCastle write).
absl::StatusOr<std::string> BerEnvelope(absl::string_view plaintext, X509* recipient,
                                        const std::string& cipher_name) {
  const EVP_CIPHER* cipher = EVP_get_cipherbyname(cipher_name.c_str());
  crypto::X509StackPtr recipients(sk_X509_new_null());
  if (cipher == nullptr || recipients == nullptr ||
      !sk_X509_push(recipients.get(), recipient)) {
    return absl::InvalidArgumentError("BER envelope: unknown cipher");
  }
  X509_up_ref(recipient);
  crypto::BioPtr in(BIO_new_mem_buf(plaintext.data(), static_cast<int>(plaintext.size())));
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
      CMS_encrypt(recipients.get(), in.get(), cipher, CMS_BINARY | CMS_STREAM),
      CMS_ContentInfo_free);
  if (cms == nullptr || out == nullptr ||
      i2d_CMS_bio_stream(out.get(), cms.get(), in.get(), CMS_BINARY | CMS_STREAM) != 1) {
    return crypto::SslInternal("BER envelope");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// One raw GeneralName of CsrSpec::raw_sans; null on failure.
GENERAL_NAME* RawName(int type, const std::string& bytes) {
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_STRING* value = ASN1_STRING_type_new(type == GEN_IPADD       ? V_ASN1_OCTET_STRING
                                            : type == GEN_OTHERNAME ? V_ASN1_UTF8STRING
                                                                    : V_ASN1_IA5STRING);
  ASN1_TYPE* upn = type == GEN_OTHERNAME ? ASN1_TYPE_new() : nullptr;
  if (name == nullptr || value == nullptr || (type == GEN_OTHERNAME && upn == nullptr) ||
      ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size())) != 1) {
    GENERAL_NAME_free(name);
    ASN1_STRING_free(value);
    ASN1_TYPE_free(upn);
    return nullptr;
  }
  if (type != GEN_OTHERNAME) {
    GENERAL_NAME_set0_value(name, type, value);
    return name;
  }
  ASN1_TYPE_set(upn, V_ASN1_UTF8STRING, value);
  if (GENERAL_NAME_set0_othername(name, OBJ_nid2obj(NID_ms_upn), upn) != 1) {
    GENERAL_NAME_free(name);
    ASN1_TYPE_free(upn);
    return nullptr;
  }
  return name;
}

// The subjectAltName extension of `spec`'s names.
absl::StatusOr<crypto::X509ExtPtr> SubjectAltName(const CsrSpec& spec) {
  std::vector<std::string> parts;
  for (const std::string& d : spec.dns_sans) parts.push_back("DNS:" + d);
  parts.insert(parts.end(), spec.other_sans.begin(), spec.other_sans.end());
  crypto::X509ExtPtr ext;
  if (!parts.empty()) {
    const std::string value = absl::StrJoin(parts, ",");
    ext.reset(X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, value.c_str()));
    if (ext == nullptr) return crypto::SslInternal("SAN extension");
    if (spec.raw_sans.empty()) return ext;
  }
  crypto::GeneralNamesPtr names(ext != nullptr
                                    ? static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext.get()))
                                    : GENERAL_NAMES_new());
  if (names == nullptr) return crypto::SslInternal("SAN extension");
  for (const auto& [type, bytes] : spec.raw_sans) {
    GENERAL_NAME* name = RawName(type, bytes);
    if (name == nullptr || sk_GENERAL_NAME_push(names.get(), name) <= 0) {
      GENERAL_NAME_free(name);
      return crypto::SslInternal("SAN extension");
    }
  }
  ext.reset(X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get()));
  if (ext == nullptr) return crypto::SslInternal("SAN extension");
  return ext;
}

}  // namespace

absl::StatusOr<std::string> BuildCsr(EVP_PKEY* key, const CsrSpec& spec) {
  crypto::X509ReqPtr req(X509_REQ_new());
  if (req == nullptr) return crypto::SslInternal("X509_REQ_new");
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  ASSIGN_OR_RETURN(Encoded cn, EncodeText(spec.common_name, spec.common_name_type));
  if (X509_NAME_add_entry_by_txt(
          name, "CN", cn.type, reinterpret_cast<const unsigned char*>(cn.bytes.data()),
          static_cast<int>(cn.bytes.size()), -1, 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key) != 1) {
    return crypto::SslInternal("CSR subject");
  }
  if (!spec.challenge.empty()) {
    ASSIGN_OR_RETURN(Encoded challenge, EncodeText(spec.challenge, spec.challenge_type));
    if (X509_REQ_add1_attr_by_NID(
            req.get(), NID_pkcs9_challengePassword, challenge.type,
            reinterpret_cast<const unsigned char*>(challenge.bytes.data()),
            static_cast<int>(challenge.bytes.size())) != 1) {
      return crypto::SslInternal("challengePassword");
    }
  }
  crypto::ExtStackPtr exts(sk_X509_EXTENSION_new_null());
  if (exts == nullptr) return crypto::SslInternal("extensionRequest");
  if (!spec.dns_sans.empty() || !spec.other_sans.empty() || !spec.raw_sans.empty()) {
    ASSIGN_OR_RETURN(crypto::X509ExtPtr ext, SubjectAltName(spec));
    if (!sk_X509_EXTENSION_push(exts.get(), ext.get())) {
      return crypto::SslInternal("SAN extension");
    }
    ext.release();
  }
  for (const auto& [nid, value] : spec.extra_extensions) {
    crypto::Asn1StringPtr data(ASN1_OCTET_STRING_new());
    if (data == nullptr ||
        ASN1_OCTET_STRING_set(data.get(), reinterpret_cast<const unsigned char*>(value.data()),
                              static_cast<int>(value.size())) != 1) {
      return crypto::SslInternal("extension");
    }
    crypto::X509ExtPtr ext(X509_EXTENSION_create_by_NID(nullptr, nid, 0, data.get()));
    if (ext == nullptr || !sk_X509_EXTENSION_push(exts.get(), ext.get())) {
      return crypto::SslInternal("extension");
    }
    ext.release();
  }
  if (sk_X509_EXTENSION_num(exts.get()) > 0 &&
      X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
    return crypto::SslInternal("extensionRequest");
  }
  if (X509_REQ_sign(req.get(), key,
                    spec.digest != nullptr ? spec.digest : EVP_sha256()) <= 0) {
    return crypto::SslInternal("signing CSR");
  }
  return crypto::ToDer(req.get(), i2d_X509_REQ);
}

absl::StatusOr<crypto::X509Ptr> SelfSignedCertificate(EVP_PKEY* key,
                                                      absl::string_view cn) {
  crypto::X509Ptr cert(X509_new());
  unsigned char serial[8];
  if (cert == nullptr || RAND_bytes(serial, sizeof(serial)) != 1) {
    return crypto::SslInternal("self-signed certificate");
  }
  serial[0] &= 0x7f;
  crypto::BignumPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  std::string cn_str(cn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn_str.c_str()),
                                 -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      X509_sign(cert.get(), key, EVP_sha256()) <= 0) {
    return crypto::SslInternal("self-signed certificate");
  }
  return cert;
}

absl::StatusOr<std::string> BuildPkcsReq(absl::string_view csr_der,
                                         X509* signer, EVP_PKEY* key, X509* ra,
                                         const PkcsReqSpec& spec) {
  std::string envelope;
  if (spec.ber_envelope) {
    ASSIGN_OR_RETURN(envelope, BerEnvelope(csr_der, ra, spec.cipher));
  } else {
    ASSIGN_OR_RETURN(envelope, Envelope(csr_der, ra, spec.cipher, spec.rsa_oaep));
  }
  ScepAttributes attrs;
  attrs.message_type = spec.message_type;
  attrs.transaction_id = spec.transaction_id;
  attrs.sender_nonce = spec.sender_nonce;
  return SignPkiMessage(envelope, attrs, signer, key, spec.digest);
}

absl::StatusOr<OpenedCertRep> OpenCertRep(absl::string_view der, X509* cert,
                                          EVP_PKEY* key) {
  OpenedCertRep out;
  ASSIGN_OR_RETURN(out.message, ParsePkiMessage(der));
  if (!out.message.signature_valid) {
    return absl::InvalidArgumentError("CertRep signature does not verify");
  }
  if (out.message.attributes.message_type != MessageType::kCertRep) {
    return absl::InvalidArgumentError("not a CertRep");
  }
  if (out.message.attributes.pki_status == PkiStatus::kSuccess) {
    ASSIGN_OR_RETURN(out.payload, Decrypt(out.message.content, cert, key));
    absl::StatusOr<std::vector<crypto::X509Ptr>> certs =
        ParseDegenerateCertificates(out.payload);
    if (certs.ok()) out.certificates = *std::move(certs);
  }
  return out;
}

}  // namespace scep::codec
