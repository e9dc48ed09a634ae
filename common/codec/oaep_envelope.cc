#include "common/codec/oaep_envelope.h"

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <optional>

#include "common/base/status_macros.h"
#include "common/codec/der_tlv.h"
#include "common/codec/envelope_internal.h"
#include "common/crypto/ssl_error.h"

namespace scep::codec {
namespace {

// The one answer to every decryption failure, whichever step failed.
constexpr char kCannotDecrypt[] = "cannot decrypt pkcsPKIEnvelope for the RA";

absl::Status Malformed() { return absl::InvalidArgumentError("malformed EnvelopedData"); }

// A forward-only DER walk over [data, end).
class DerCursor {
 public:
  explicit DerCursor(absl::string_view in) : in_(in) {}

  // The next TLV, whole (header and contents); moves past it.
  absl::StatusOr<absl::string_view> Next() {
    std::optional<DerTlv> tlv = ReadDerTlv(in_);
    if (!tlv) return Malformed();
    absl::string_view whole = in_.substr(0, tlv->size());
    in_.remove_prefix(tlv->size());
    return whole;
  }
  // The contents of the next TLV, which must have this tag; moves past it.
  absl::StatusOr<absl::string_view> Enter(int tag_number, int tag_class) {
    std::optional<DerTlv> tlv = ReadDerTlv(in_);
    if (!tlv || tlv->tag_number != tag_number || tlv->tag_class != tag_class) {
      return Malformed();
    }
    absl::string_view contents = in_.substr(tlv->header, tlv->length);
    in_.remove_prefix(tlv->size());
    return contents;
  }
  bool AtContextTag0() const { return !in_.empty() && static_cast<unsigned char>(in_[0]) == 0xA0; }

 private:
  absl::string_view in_;
};

struct KeyTransFields {
  std::string encrypted_key;
  absl::string_view encrypted_content_info;  // the whole TLV
};

// encryptedKey of the `index`-th RecipientInfo (a KeyTransRecipientInfo,
// in the order OpenSSL parsed them) and the EncryptedContentInfo.
absl::StatusOr<KeyTransFields> ReadKeyTrans(absl::string_view der, int index) {
  DerCursor outer(der);
  ASSIGN_OR_RETURN(absl::string_view content_info, outer.Enter(V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL));
  DerCursor info(content_info);
  RETURN_IF_ERROR(info.Next().status());  // contentType
  ASSIGN_OR_RETURN(absl::string_view explicit0, info.Enter(0, V_ASN1_CONTEXT_SPECIFIC));
  DerCursor wrapper(explicit0);
  ASSIGN_OR_RETURN(absl::string_view enveloped, wrapper.Enter(V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL));
  DerCursor fields(enveloped);
  RETURN_IF_ERROR(fields.Next().status());  // version
  if (fields.AtContextTag0()) RETURN_IF_ERROR(fields.Next().status());  // originatorInfo
  ASSIGN_OR_RETURN(absl::string_view recipients, fields.Enter(V_ASN1_SET, V_ASN1_UNIVERSAL));
  KeyTransFields out;
  ASSIGN_OR_RETURN(out.encrypted_content_info, fields.Next());
  DerCursor set(recipients);
  for (int i = 0; i < index; ++i) RETURN_IF_ERROR(set.Next().status());
  // KeyTransRecipientInfo ::= SEQUENCE { version, rid,
  //   keyEncryptionAlgorithm, encryptedKey OCTET STRING }
  ASSIGN_OR_RETURN(absl::string_view ktri, set.Enter(V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL));
  DerCursor ktri_fields(ktri);
  for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(ktri_fields.Next().status());
  ASSIGN_OR_RETURN(absl::string_view key, ktri_fields.Enter(V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL));
  out.encrypted_key = std::string(key);
  return out;
}

// The hash of an AlgorithmIdentifier, absent meaning SHA-1 (RFC 4055).
int HashNid(const X509_ALGOR* alg) {
  return alg == nullptr ? NID_sha1 : OBJ_obj2nid(alg->algorithm);
}

absl::StatusOr<crypto::RsaOaepParams> ReadOaepParams(const X509_ALGOR* alg) {
  const absl::Status malformed = absl::InvalidArgumentError("malformed RSAES-OAEP parameters");
  crypto::RsaOaepParamsPtr oaep(static_cast<RSA_OAEP_PARAMS*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_OAEP_PARAMS), alg->parameter)));
  if (oaep == nullptr) {
    ERR_clear_error();
    return malformed;
  }
  crypto::RsaOaepParams params;
  params.hash_nid = HashNid(oaep->hashFunc);
  if (oaep->maskGenFunc != nullptr) {
    if (OBJ_obj2nid(oaep->maskGenFunc->algorithm) != NID_mgf1) return malformed;
    crypto::X509AlgorPtr mgf1_hash(static_cast<X509_ALGOR*>(ASN1_TYPE_unpack_sequence(
        ASN1_ITEM_rptr(X509_ALGOR), oaep->maskGenFunc->parameter)));
    if (mgf1_hash == nullptr) {
      ERR_clear_error();
      return malformed;
    }
    params.mgf1_hash_nid = HashNid(mgf1_hash.get());
  }
  if (oaep->pSourceFunc != nullptr) {
    const ASN1_TYPE* label = oaep->pSourceFunc->parameter;
    if (OBJ_obj2nid(oaep->pSourceFunc->algorithm) != NID_pSpecified || label == nullptr ||
        label->type != V_ASN1_OCTET_STRING) {
      return malformed;
    }
    params.label.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(label->value.octet_string)),
                        static_cast<size_t>(ASN1_STRING_length(label->value.octet_string)));
  }
  return params;
}

// DER of `contents` under a definite-length header of `tag`.
std::string DerWrap(unsigned char tag, absl::string_view contents) {
  std::string out(1, static_cast<char>(tag));
  const size_t length = contents.size();
  if (length < 0x80) {
    out.push_back(static_cast<char>(length));
  } else {
    std::string octets;
    for (size_t rest = length; rest != 0; rest >>= 8) {
      octets.insert(octets.begin(), static_cast<char>(rest & 0xFF));
    }
    out.push_back(static_cast<char>(0x80 | octets.size()));
    out += octets;
  }
  out.append(contents.data(), contents.size());
  return out;
}

// Decrypts an EncryptedContentInfo with `key` through OpenSSL's own
// EncryptedData code (CMS_EncryptedData_decrypt: the same cipher setup,
// and a key of the wrong length replaced by a random one), in `context`.
absl::StatusOr<std::string> DecryptContent(OSSL_LIB_CTX* context,
                                           absl::string_view encrypted_content_info,
                                           const std::string& key) {
  // ContentInfo { id-encryptedData, [0] EncryptedData { version 0, eci } }
  static constexpr char kEncryptedDataOid[] = "\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x06";
  const std::string encrypted_data =
      DerWrap(0x30, std::string("\x02\x01\x00", 3) + std::string(encrypted_content_info));
  const std::string der = DerWrap(
      0x30, std::string(kEncryptedDataOid, sizeof(kEncryptedDataOid) - 1) +
                DerWrap(0xA0, encrypted_data));
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  CMS_ContentInfo* fresh = CMS_ContentInfo_new_ex(context, nullptr);
  if (fresh == nullptr) return crypto::SslInternal("CMS_ContentInfo_new_ex");
  crypto::CmsPtr cms(d2i_CMS_ContentInfo(&fresh, &p, static_cast<long>(der.size())));
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  if (cms == nullptr || out == nullptr ||
      CMS_EncryptedData_decrypt(cms.get(), reinterpret_cast<const unsigned char*>(key.data()),
                                key.size(), nullptr, out.get(), CMS_BINARY) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(kCannotDecrypt);
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(out.get(), &data);
  if (length < 0) return crypto::SslInternal("reading memory BIO");
  return std::string(data, static_cast<size_t>(length));
}

}  // namespace

absl::StatusOr<std::string> DecryptOaep(absl::string_view der, X509* certificate,
                                        OaepUnwrap unwrap) {
  ASSIGN_OR_RETURN(ParsedEnvelope parsed, ParseEnvelopedData(der));
  STACK_OF(CMS_RecipientInfo)* infos = CMS_get0_RecipientInfos(parsed.cms.get());
  CMS_RecipientInfo* recipient = nullptr;
  int index = 0;
  for (; index < sk_CMS_RecipientInfo_num(infos); ++index) {
    CMS_RecipientInfo* info = sk_CMS_RecipientInfo_value(infos, index);
    if (CMS_RecipientInfo_type(info) == CMS_RECIPINFO_TRANS &&
        CMS_RecipientInfo_ktri_cert_cmp(info, certificate) == 0) {
      recipient = info;
      break;
    }
  }
  ERR_clear_error();
  if (recipient == nullptr) return absl::InvalidArgumentError(kCannotDecrypt);
  X509_ALGOR* algorithm = nullptr;
  if (CMS_RecipientInfo_ktri_get0_algs(recipient, nullptr, nullptr, &algorithm) != 1 ||
      OBJ_obj2nid(algorithm->algorithm) != NID_rsaesOaep) {
    return absl::UnimplementedError("the RA's key transport is not RSAES-OAEP");
  }
  ASSIGN_OR_RETURN(crypto::RsaOaepParams params, ReadOaepParams(algorithm));
  ASSIGN_OR_RETURN(KeyTransFields fields, ReadKeyTrans(der, index));

  absl::StatusOr<std::string> key = unwrap(params, fields.encrypted_key);
  const bool unwrapped = key.ok();
  if (!unwrapped) {
    if (!absl::IsInvalidArgument(key.status())) return key.status();
    // Against padding oracles: the content is decrypted all the same, with
    // a key no one knows, and both failures read alike.
    std::string random(32, '\0');
    if (RAND_priv_bytes(reinterpret_cast<unsigned char*>(random.data()),
                        static_cast<int>(random.size())) != 1) {
      return crypto::SslInternal("RAND_priv_bytes");
    }
    key = std::move(random);
  }
  absl::StatusOr<std::string> content = DecryptContent(parsed.context,
                                                       fields.encrypted_content_info, *key);
  OPENSSL_cleanse(key->data(), key->size());
  if (!unwrapped || !content.ok()) return absl::InvalidArgumentError(kCannotDecrypt);
  return content;
}

}  // namespace scep::codec
