#include "common/codec/envelope.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/der_tlv.h"
#include "common/codec/envelope_internal.h"
#include "common/crypto/der.h"
#include "common/crypto/providers.h"
#include "common/crypto/ssl_error.h"

namespace scep::codec {
namespace {

using crypto::BioPtr;
using crypto::CmsPtr;

absl::StatusOr<std::string> ReadBio(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return crypto::SslInternal("reading memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

// The TLV at *p inside [*p, end).
std::optional<DerTlv> ReadAt(const unsigned char* p, const unsigned char* end) {
  return ReadDerTlv(absl::string_view(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(end - p)));
}

// One DER TLV inside [*p, end): on success *p points at its contents and
// `len` is their length. Only definite lengths (DER).
absl::Status EnterTlv(const unsigned char** p, const unsigned char* end,
                      int want_tag, int want_class, long* len) {
  std::optional<DerTlv> tlv = ReadAt(*p, end);
  if (!tlv || tlv->tag_number != want_tag || tlv->tag_class != want_class) {
    return absl::InvalidArgumentError("malformed EnvelopedData");
  }
  *p += tlv->header;
  *len = static_cast<long>(tlv->length);
  return absl::OkStatus();
}

// A fetched cipher and the library context it came from (nullptr: the
// default context).
struct FetchedCipher {
  OSSL_LIB_CTX* context = nullptr;
  crypto::SslPtr<EVP_CIPHER, EVP_CIPHER_free> cipher;
};

// `name` from the default context, else from crypto::LegacyProviders' own
// context (single DES); nullptr cipher when neither has it.
FetchedCipher FetchCipher(const std::string& name) {
  FetchedCipher fetched;
  ERR_set_mark();
  fetched.cipher.reset(EVP_CIPHER_fetch(nullptr, name.c_str(), nullptr));
  OSSL_LIB_CTX* legacy = crypto::LegacyProviders::Current();
  if (fetched.cipher == nullptr && legacy != nullptr) {
    fetched.cipher.reset(EVP_CIPHER_fetch(legacy, name.c_str(), nullptr));
    fetched.context = legacy;
  }
  ERR_pop_to_mark();
  return fetched;
}

absl::Status SkipTlv(const unsigned char** p, const unsigned char* end) {
  std::optional<DerTlv> tlv = ReadAt(*p, end);
  if (!tlv) return absl::InvalidArgumentError("malformed EnvelopedData");
  *p += tlv->size();
  return absl::OkStatus();
}

// The OBJECT IDENTIFIER at *p (inside [*p, end)).
absl::StatusOr<crypto::Asn1ObjectPtr> ReadOidObject(const unsigned char** p,
                                                    const unsigned char* end) {
  const unsigned char* start = *p;
  long len = 0;
  RETURN_IF_ERROR(EnterTlv(p, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, &len));
  const unsigned char* q = start;
  crypto::Asn1ObjectPtr oid(d2i_ASN1_OBJECT(nullptr, &q, (*p - start) + len));
  if (oid == nullptr) return crypto::SslInvalid("algorithm OID");
  *p += len;
  return oid;
}

// The OBJECT IDENTIFIER at *p (inside [*p, end)) as a NID.
absl::StatusOr<int> ReadOid(const unsigned char** p, const unsigned char* end) {
  ASSIGN_OR_RETURN(crypto::Asn1ObjectPtr oid, ReadOidObject(p, end));
  return OBJ_obj2nid(oid.get());
}

// Whether `der` is one whole CMS ContentInfo as OpenSSL reads it: what
// makes an envelope well-formed, whatever its algorithms.
bool IsWholeContentInfo(absl::string_view der) {
  const auto* start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = start;
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  ERR_clear_error();
  return cms != nullptr && p == start + der.size();
}

// Moves [*p, *end) from a ContentInfo to the fields of its EnvelopedData,
// after the version and any originatorInfo (at recipientInfos).
// AuthEnvelopedData (RFC 5083) has the same fields up to its
// authEncryptedContentInfo. `content_type` (may be null) receives the
// ContentInfo's contentType as a NID.
absl::Status EnterEnvelopedData(const unsigned char** p, const unsigned char** end,
                                int* content_type = nullptr) {
  long len = 0;
  // ContentInfo ::= SEQUENCE { contentType OID, [0] EXPLICIT content }
  RETURN_IF_ERROR(EnterTlv(p, *end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  *end = *p + len;
  if (content_type != nullptr) {
    ASSIGN_OR_RETURN(*content_type, ReadOid(p, *end));
  } else {
    RETURN_IF_ERROR(SkipTlv(p, *end));
  }
  RETURN_IF_ERROR(EnterTlv(p, *end, 0, V_ASN1_CONTEXT_SPECIFIC, &len));
  // EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL,
  //   recipientInfos SET, encryptedContentInfo SEQUENCE, ... }
  RETURN_IF_ERROR(EnterTlv(p, *end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  *end = *p + len;
  RETURN_IF_ERROR(SkipTlv(p, *end));  // version
  if (*p < *end && **p == 0xA0) RETURN_IF_ERROR(SkipTlv(p, *end));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Envelope(absl::string_view plaintext,
                                     X509* recipient,
                                     absl::string_view cipher_name,
                                     bool rsa_oaep) {
  FetchedCipher fetched = FetchCipher(std::string(cipher_name));
  if (fetched.cipher == nullptr) return absl::InvalidArgumentError("unknown cipher");
  const EVP_CIPHER* cipher = fetched.cipher.get();
  crypto::X509StackPtr recipients(sk_X509_new_null());
  if (recipients == nullptr || !sk_X509_push(recipients.get(), recipient)) {
    return crypto::SslInternal("recipient stack");
  }
  X509_up_ref(recipient);
  BioPtr in(BIO_new_mem_buf(plaintext.data(), static_cast<int>(plaintext.size())));
  if (!rsa_oaep) {
    CmsPtr cms(CMS_encrypt_ex(recipients.get(), in.get(), cipher, CMS_BINARY,
                              fetched.context, nullptr));
    if (cms == nullptr) return crypto::SslInternal("CMS_encrypt");
    return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo);
  }
  CmsPtr cms(CMS_encrypt_ex(nullptr, nullptr, cipher, CMS_BINARY | CMS_PARTIAL,
                            fetched.context, nullptr));
  if (cms == nullptr) return crypto::SslInternal("CMS_encrypt");
  CMS_RecipientInfo* ri =
      CMS_add1_recipient_cert(cms.get(), recipient, CMS_KEY_PARAM);
  EVP_PKEY_CTX* pctx = ri != nullptr ? CMS_RecipientInfo_get0_pkey_ctx(ri) : nullptr;
  if (pctx == nullptr ||
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY) != 1) {
    return crypto::SslInternal("CMS_encrypt with RSAES-OAEP");
  }
  return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo);
}

absl::StatusOr<ParsedEnvelope> ParseEnvelopedData(absl::string_view der) {
  // Parsed in the context that has the content cipher, which CMS_decrypt
  // fetches from the message's context.
  OSSL_LIB_CTX* context = nullptr;
  if (absl::StatusOr<std::string> name = EnvelopeCipher(der); name.ok()) {
    context = FetchCipher(*name).context;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  CMS_ContentInfo* fresh = CMS_ContentInfo_new_ex(context, nullptr);
  if (fresh == nullptr) return crypto::SslInternal("CMS_ContentInfo_new_ex");
  // d2i frees `fresh` (and nulls it) when it fails.
  CmsPtr cms(d2i_CMS_ContentInfo(&fresh, &p, static_cast<long>(der.size())));
  if (cms == nullptr) return crypto::SslInvalid("pkcsPKIEnvelope is not valid DER");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("pkcsPKIEnvelope has trailing bytes");
  }
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_enveloped) {
    return absl::InvalidArgumentError("pkcsPKIEnvelope is not EnvelopedData");
  }
  return ParsedEnvelope{context, std::move(cms)};
}

absl::StatusOr<std::string> Decrypt(absl::string_view der, X509* certificate,
                                    EVP_PKEY* key) {
  ASSIGN_OR_RETURN(ParsedEnvelope parsed, ParseEnvelopedData(der));
  CmsPtr& cms = parsed.cms;
  BioPtr out(BIO_new(BIO_s_mem()));
  if (CMS_decrypt(cms.get(), key, certificate, nullptr, out.get(),
                  CMS_BINARY) != 1) {
    return crypto::SslInvalid("cannot decrypt pkcsPKIEnvelope for the RA");
  }
  return ReadBio(out.get());
}

absl::StatusOr<bool> IsRecipient(absl::string_view der, X509* certificate) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (cms == nullptr || OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_enveloped) {
    ERR_clear_error();
    return absl::InvalidArgumentError("pkcsPKIEnvelope is not EnvelopedData");
  }
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(cms.get());
  for (int i = 0; i < sk_CMS_RecipientInfo_num(infos); ++i) {
    CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(infos, i);
    if (CMS_RecipientInfo_type(info) == CMS_RECIPINFO_TRANS &&
        CMS_RecipientInfo_ktri_cert_cmp(info, certificate) == 0) {
      return true;
    }
  }
  ERR_clear_error();
  return false;
}

absl::StatusOr<std::string> EnvelopeAsDer(absl::string_view ber) {
  ASSIGN_OR_RETURN(CmsPtr cms,
                   crypto::FromDer<CmsPtr>(ber, d2i_CMS_ContentInfo, "pkcsPKIEnvelope"));
  const int type = OBJ_obj2nid(CMS_get0_type(cms.get()));
  if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
    return absl::InvalidArgumentError("pkcsPKIEnvelope is not EnvelopedData");
  }
  return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo);
}

absl::StatusOr<std::string> EnvelopeCipher(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  int content_type = NID_undef;
  RETURN_IF_ERROR(EnterEnvelopedData(&p, &end, &content_type));
  if (content_type != NID_pkcs7_enveloped &&
      content_type != NID_id_smime_ct_authEnvelopedData) {
    return absl::InvalidArgumentError("pkcsPKIEnvelope is not EnvelopedData");
  }
  long len = 0;
  RETURN_IF_ERROR(SkipTlv(&p, end));  // recipientInfos
  RETURN_IF_ERROR(EnterTlv(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  end = p + len;
  RETURN_IF_ERROR(SkipTlv(&p, end));  // contentType
  RETURN_IF_ERROR(EnterTlv(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  ASSIGN_OR_RETURN(crypto::Asn1ObjectPtr oid, ReadOidObject(&p, p + len));
  if (content_type == NID_pkcs7_enveloped) {
    switch (OBJ_obj2nid(oid.get())) {
      case NID_aes_128_cbc: return std::string("aes-128-cbc");
      case NID_aes_192_cbc: return std::string("aes-192-cbc");
      case NID_aes_256_cbc: return std::string("aes-256-cbc");
      case NID_des_ede3_cbc: return std::string("des-ede3-cbc");
      case NID_des_cbc: return std::string("des-cbc");
      default: break;
    }
  }
  // Well-formed but not ours to decrypt: the algorithm is refused, not
  // the message (RFC 8894 section 3.2.1.4: badAlg). Anything OpenSSL does
  // not read whole stays malformed.
  if (!IsWholeContentInfo(der)) {
    return absl::InvalidArgumentError("malformed EnvelopedData");
  }
  if (content_type == NID_id_smime_ct_authEnvelopedData) {
    return absl::UnimplementedError(
        "AuthEnvelopedData (AES-GCM) is not supported; use EnvelopedData with AES-CBC");
  }
  char name[64];
  OBJ_obj2txt(name, sizeof(name), oid.get(), 0);
  return absl::UnimplementedError(
      absl::StrCat("content-encryption algorithm ", name, " is not supported"));
}

absl::StatusOr<int> KeyTransportAlgorithm(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  RETURN_IF_ERROR(EnterEnvelopedData(&p, &end));
  long len = 0;
  RETURN_IF_ERROR(EnterTlv(&p, end, V_ASN1_SET, V_ASN1_UNIVERSAL, &len));
  end = p + len;
  // KeyTransRecipientInfo ::= SEQUENCE { version, rid,
  //   keyEncryptionAlgorithm AlgorithmIdentifier, encryptedKey }; the other
  // kinds of RecipientInfo are context-tagged.
  RETURN_IF_ERROR(EnterTlv(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  end = p + len;
  RETURN_IF_ERROR(SkipTlv(&p, end));  // version
  RETURN_IF_ERROR(SkipTlv(&p, end));  // rid
  RETURN_IF_ERROR(EnterTlv(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len));
  return ReadOid(&p, p + len);
}

absl::StatusOr<std::string> DegenerateCertificates(
    const std::vector<X509*>& certificates) {
  crypto::X509StackPtr stack(sk_X509_new_null());
  if (stack == nullptr) return crypto::SslInternal("certificate stack");
  for (X509* cert : certificates) {
    if (!sk_X509_push(stack.get(), cert)) return crypto::SslInternal("push");
    X509_up_ref(cert);
  }
  // No signer and no content: the certificates-only SignedData.
  CmsPtr cms(CMS_sign(nullptr, nullptr, stack.get(), nullptr,
                      CMS_BINARY | CMS_PARTIAL));
  if (cms == nullptr) return crypto::SslInternal("certs-only SignedData");
  return crypto::ToDer(cms.get(), i2d_CMS_ContentInfo);
}

absl::StatusOr<std::vector<crypto::X509Ptr>> ParseDegenerateCertificates(
    absl::string_view der) {
  ASSIGN_OR_RETURN(CmsPtr cms, crypto::FromDer<CmsPtr>(der, d2i_CMS_ContentInfo,
                                                       "certs-only SignedData"));
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    return absl::InvalidArgumentError("not SignedData");
  }
  crypto::X509StackPtr certs(CMS_get1_certs(cms.get()));
  std::vector<crypto::X509Ptr> out;
  for (int i = 0; certs != nullptr && i < sk_X509_num(certs.get()); ++i) {
    X509* cert = sk_X509_value(certs.get(), i);
    X509_up_ref(cert);
    out.emplace_back(cert);
  }
  if (out.empty()) return absl::InvalidArgumentError("no certificates");
  return out;
}

}  // namespace scep::codec
