#include "common/codec/pki_message.h"

#include <openssl/objects.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/scep_oids.h"
#include "common/crypto/ssl_error.h"

namespace scep::codec {
namespace {

using crypto::BioPtr;
using crypto::CmsPtr;

// Value of the single-valued signed attribute `oid` when it has ASN.1 type
// `type`; nullopt when absent; InvalidArgument when malformed.
absl::StatusOr<std::optional<std::string>> GetAttribute(
    CMS_SignerInfo* si, const ASN1_OBJECT* oid, int type,
    absl::string_view name) {
  int idx = CMS_signed_get_attr_by_OBJ(si, oid, -1);
  if (idx < 0) return std::nullopt;
  if (CMS_signed_get_attr_by_OBJ(si, oid, idx) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate ", name));
  }
  X509_ATTRIBUTE* attr = CMS_signed_get_attr(si, idx);
  if (X509_ATTRIBUTE_count(attr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not single-valued"));
  }
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
  if (value == nullptr || ASN1_TYPE_get(value) != type) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has the wrong type"));
  }
  const ASN1_STRING* s = value->value.asn1_string;
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
}

// PrintableString attributes that hold a decimal number (messageType,
// pkiStatus, failInfo).
absl::StatusOr<std::optional<int>> GetNumberAttribute(CMS_SignerInfo* si,
                                                      const ASN1_OBJECT* oid,
                                                      absl::string_view name) {
  ASSIGN_OR_RETURN(std::optional<std::string> text,
                   GetAttribute(si, oid, V_ASN1_PRINTABLESTRING, name));
  if (!text.has_value()) return std::nullopt;
  int value = 0;
  if (text->size() > 3 || !absl::SimpleAtoi(*text, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is not a number"));
  }
  return value;
}

absl::Status AddAttribute(CMS_SignerInfo* si, const ASN1_OBJECT* oid, int type,
                          absl::string_view value) {
  if (CMS_signed_add1_attr_by_OBJ(si, oid, type, value.data(),
                                  static_cast<int>(value.size())) != 1) {
    return crypto::SslInternal("adding a SCEP attribute");
  }
  return absl::OkStatus();
}

bool IsKnownMessageType(int v) {
  switch (static_cast<MessageType>(v)) {
    case MessageType::kCertRep:
    case MessageType::kRenewalReq:
    case MessageType::kPkcsReq:
    case MessageType::kCertPoll:
    case MessageType::kGetCert:
    case MessageType::kGetCrl:
      return true;
  }
  return false;
}

absl::Status ReadAttributes(CMS_SignerInfo* si, ScepAttributes& out) {
  const ScepOids& oids = Oids();
  ASSIGN_OR_RETURN(std::optional<int> type,
                   GetNumberAttribute(si, oids.message_type, "messageType"));
  if (!type.has_value()) return absl::InvalidArgumentError("no messageType");
  if (!IsKnownMessageType(*type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown messageType ", *type));
  }
  out.message_type = static_cast<MessageType>(*type);
  ASSIGN_OR_RETURN(std::optional<std::string> tid,
                   GetAttribute(si, oids.transaction_id, V_ASN1_PRINTABLESTRING,
                                "transactionID"));
  if (!tid.has_value() || tid->empty() || tid->size() > 256) {
    return absl::InvalidArgumentError("missing or oversized transactionID");
  }
  out.transaction_id = *std::move(tid);
  ASSIGN_OR_RETURN(std::optional<std::string> nonce,
                   GetAttribute(si, oids.sender_nonce, V_ASN1_OCTET_STRING,
                                "senderNonce"));
  if (!nonce.has_value() || nonce->empty() || nonce->size() > 64) {
    return absl::InvalidArgumentError("missing or oversized senderNonce");
  }
  out.sender_nonce = *std::move(nonce);
  ASSIGN_OR_RETURN(out.recipient_nonce,
                   GetAttribute(si, oids.recipient_nonce, V_ASN1_OCTET_STRING,
                                "recipientNonce"));
  ASSIGN_OR_RETURN(std::optional<int> status,
                   GetNumberAttribute(si, oids.pki_status, "pkiStatus"));
  if (status.has_value()) out.pki_status = static_cast<PkiStatus>(*status);
  ASSIGN_OR_RETURN(std::optional<int> fail,
                   GetNumberAttribute(si, oids.fail_info, "failInfo"));
  if (fail.has_value()) out.fail_info = static_cast<FailInfo>(*fail);
  ASSIGN_OR_RETURN(out.fail_info_text,
                   GetAttribute(si, oids.fail_info_text, V_ASN1_UTF8STRING,
                                "failInfoText"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DigestName(const ASN1_OBJECT* oid) {
  switch (OBJ_obj2nid(oid)) {
    case NID_sha1: return std::string("sha1");
    case NID_sha224: return std::string("sha224");
    case NID_sha256: return std::string("sha256");
    case NID_sha384: return std::string("sha384");
    case NID_sha512: return std::string("sha512");
    default: return absl::InvalidArgumentError("unsupported digest algorithm");
  }
}

absl::StatusOr<PkiMessage> ParsePkiMessage(absl::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (cms == nullptr) return crypto::SslInvalid("pkiMessage is not CMS");
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    return absl::InvalidArgumentError("pkiMessage is not SignedData");
  }
  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
  if (sk_CMS_SignerInfo_num(sis) != 1) {
    return absl::InvalidArgumentError("pkiMessage needs exactly one signer");
  }
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);
  if (CMS_set1_signers_certs(cms.get(), nullptr, 0) < 1) {
    return crypto::SslInvalid("pkiMessage lacks its signer certificate");
  }
  PkiMessage msg;
  X509* signer = nullptr;
  X509_ALGOR* digest_alg = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, &signer, &digest_alg, nullptr);
  if (signer == nullptr) {
    return absl::InvalidArgumentError("pkiMessage lacks its signer certificate");
  }
  X509_up_ref(signer);
  msg.signer_certificate.reset(signer);
  const ASN1_OBJECT* digest_oid = nullptr;
  X509_ALGOR_get0(&digest_oid, nullptr, nullptr, digest_alg);
  ASSIGN_OR_RETURN(msg.digest, DigestName(digest_oid));
  RETURN_IF_ERROR(ReadAttributes(si, msg.attributes));

  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  if (content != nullptr && *content != nullptr) {
    msg.content.assign(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
        ASN1_STRING_length(*content));
  }
  BioPtr sink(BIO_new(BIO_s_null()));
  msg.signature_valid =
      CMS_verify(cms.get(), nullptr, nullptr, nullptr, sink.get(),
                 CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1;
  crypto::DrainSslErrors();
  return msg;
}

absl::StatusOr<std::string> SignPkiMessage(absl::string_view content,
                                           const ScepAttributes& attributes,
                                           X509* certificate, EVP_PKEY* key,
                                           absl::string_view digest) {
  const EVP_MD* md = EVP_get_digestbyname(std::string(digest).c_str());
  if (md == nullptr) return absl::InvalidArgumentError("unknown digest");
  constexpr unsigned kFlags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, kFlags));
  if (cms == nullptr) return crypto::SslInternal("CMS_sign");
  CMS_SignerInfo* si = CMS_add1_signer(cms.get(), certificate, key, md, kFlags);
  if (si == nullptr) return crypto::SslInternal("CMS_add1_signer");

  const ScepOids& oids = Oids();
  RETURN_IF_ERROR(AddAttribute(
      si, oids.message_type, V_ASN1_PRINTABLESTRING,
      std::to_string(static_cast<int>(attributes.message_type))));
  RETURN_IF_ERROR(AddAttribute(si, oids.transaction_id, V_ASN1_PRINTABLESTRING,
                               attributes.transaction_id));
  RETURN_IF_ERROR(AddAttribute(si, oids.sender_nonce, V_ASN1_OCTET_STRING,
                               attributes.sender_nonce));
  if (attributes.recipient_nonce.has_value()) {
    RETURN_IF_ERROR(AddAttribute(si, oids.recipient_nonce, V_ASN1_OCTET_STRING,
                                 *attributes.recipient_nonce));
  }
  if (attributes.pki_status.has_value()) {
    RETURN_IF_ERROR(AddAttribute(
        si, oids.pki_status, V_ASN1_PRINTABLESTRING,
        std::to_string(static_cast<int>(*attributes.pki_status))));
  }
  if (attributes.fail_info.has_value()) {
    RETURN_IF_ERROR(AddAttribute(
        si, oids.fail_info, V_ASN1_PRINTABLESTRING,
        std::to_string(static_cast<int>(*attributes.fail_info))));
  }
  if (attributes.fail_info_text.has_value()) {
    RETURN_IF_ERROR(AddAttribute(si, oids.fail_info_text, V_ASN1_UTF8STRING,
                                 *attributes.fail_info_text));
  }
  BioPtr in(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
  if (in == nullptr || CMS_final(cms.get(), in.get(), nullptr, kFlags) != 1) {
    return crypto::SslError(absl::StatusCode::kInternal, "signing pkiMessage");
  }
  unsigned char* out = nullptr;
  int len = i2d_CMS_ContentInfo(cms.get(), &out);
  if (len <= 0) return crypto::SslInternal("encoding pkiMessage");
  std::string der(reinterpret_cast<char*>(out), len);
  OPENSSL_free(out);
  return der;
}

}  // namespace scep::codec
