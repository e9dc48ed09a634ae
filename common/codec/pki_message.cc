#include "common/codec/pki_message.h"

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/der_tlv.h"
#include "common/codec/scep_oids.h"
#include "common/crypto/public_keys.h"
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

absl::Status ReadAttributes(CMS_SignerInfo* si, ScepAttributes& out) {
  const ScepOids& oids = Oids();
  ASSIGN_OR_RETURN(std::optional<int> type,
                   GetNumberAttribute(si, oids.message_type, "messageType"));
  if (!type.has_value()) return absl::InvalidArgumentError("no messageType");
  // Kept as sent, known or not (0..999): a type this codec does not know
  // is the receiver's to refuse, in a signed reply (RFC 8894 section
  // 3.2.1.4, badRequest), not a message that cannot be read.
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

// One TLV header with a single-octet identifier (`tag`), definite length.
struct Tlv {
  unsigned char tag = 0;
  size_t header = 0;  // octets before the contents
  size_t length = 0;  // octets of contents
  size_t size() const { return header + length; }
};

// The TLV at the start of `in`; nullopt for anything else (multi-octet tag,
// indefinite length, contents past the end of `in`).
std::optional<Tlv> ReadTlv(absl::string_view in) {
  std::optional<DerTlv> tlv = ReadDerTlv(in);
  if (!tlv || tlv->tag_number > 30) return std::nullopt;
  Tlv out;
  out.tag = static_cast<unsigned char>(tlv->tag_class |
                                       (tlv->constructed ? V_ASN1_CONSTRUCTED : 0) |
                                       tlv->tag_number);
  out.header = tlv->header;
  out.length = tlv->length;
  return out;
}

// DER header (ASN1_put_object) for `length` octets of contents under the
// single-octet identifier `tag`.
std::string Header(unsigned char tag, size_t length) {
  const int constructed = (tag & V_ASN1_CONSTRUCTED) != 0 ? 1 : 0;
  const int number = tag & 0x1f;
  const int cls = tag & 0xc0;
  const auto len = static_cast<int>(length);
  std::string out(static_cast<size_t>(ASN1_object_size(constructed, len, number) - len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  ASN1_put_object(&p, constructed, len, number, cls);
  return out;
}

// A SignedData ContentInfo with its certificates taken out.
struct SplitMessage {
  std::string without_certificates;
  std::vector<absl::string_view> certificates;  // DER, into the input
};

// Takes the certificates out of a DER SignedData ContentInfo (RFC 5652
// section 5.1; they are not covered by the signature), so that OpenSSL does
// not decode their keys while parsing the message: ParsePkiMessage parses
// them with crypto::ParseCertificate instead. nullopt when `der` is not
// that shape in definite-length DER or has no certificates; the caller
// then parses it as it is.
std::optional<SplitMessage> SplitCertificates(absl::string_view der) {
  static constexpr char kSignedDataOid[] =
      "\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02";
  if (der.size() > (1u << 30)) return std::nullopt;  // Header() takes int lengths
  std::optional<Tlv> info = ReadTlv(der);
  if (!info || info->tag != 0x30 || info->size() != der.size()) return std::nullopt;
  absl::string_view body = der.substr(info->header);
  const absl::string_view oid(kSignedDataOid, sizeof(kSignedDataOid) - 1);
  if (!absl::StartsWith(body, oid)) return std::nullopt;
  body.remove_prefix(oid.size());
  std::optional<Tlv> wrapper = ReadTlv(body);
  if (!wrapper || wrapper->tag != 0xa0 || wrapper->size() != body.size()) return std::nullopt;
  body.remove_prefix(wrapper->header);
  std::optional<Tlv> signed_data = ReadTlv(body);
  if (!signed_data || signed_data->tag != 0x30 || signed_data->size() != body.size()) {
    return std::nullopt;
  }
  absl::string_view fields = body.substr(signed_data->header);
  // version, digestAlgorithms, encapContentInfo
  size_t prefix = 0;
  for (unsigned char tag : {0x02, 0x31, 0x30}) {
    std::optional<Tlv> field = ReadTlv(fields.substr(prefix));
    if (!field || field->tag != tag) return std::nullopt;
    prefix += field->size();
  }
  std::optional<Tlv> certs = ReadTlv(fields.substr(prefix));
  if (!certs || certs->tag != 0xa0) return std::nullopt;
  SplitMessage split;
  for (absl::string_view set = fields.substr(prefix + certs->header, certs->length);
       !set.empty();) {
    std::optional<Tlv> cert = ReadTlv(set);
    // Only plain certificates (not the other CertificateChoices).
    if (!cert || cert->tag != 0x30) return std::nullopt;
    split.certificates.push_back(set.substr(0, cert->size()));
    set.remove_prefix(cert->size());
  }
  if (split.certificates.empty()) return std::nullopt;
  const absl::string_view rest = fields.substr(prefix + certs->size());
  const size_t sd_length = prefix + rest.size();
  const std::string sd_header = Header(0x30, sd_length);
  const std::string wrapper_header = Header(0xa0, sd_header.size() + sd_length);
  const size_t info_length = oid.size() + wrapper_header.size() + sd_header.size() + sd_length;
  split.without_certificates = absl::StrCat(
      Header(0x30, info_length), oid, wrapper_header, sd_header,
      fields.substr(0, prefix), rest);
  return split;
}

}  // namespace

absl::StatusOr<std::string> DigestName(const ASN1_OBJECT* oid) {
  switch (OBJ_obj2nid(oid)) {
    case NID_sha1: return std::string("sha1");
    case NID_sha224: return std::string("sha224");
    case NID_sha256: return std::string("sha256");
    case NID_sha384: return std::string("sha384");
    case NID_sha512: return std::string("sha512");
    default:
      break;
  }
  // Any other digest OpenSSL knows (MD5 from sscep and old Cisco IOS,
  // SHA-3) by its name: the gateway answers it FAILURE badAlg (RFC 8894
  // 3.2.1.4) instead of refusing the message as malformed.
  const int nid = OBJ_obj2nid(oid);
  if (nid != NID_undef && EVP_get_digestbynid(nid) != nullptr) {
    return absl::AsciiStrToLower(OBJ_nid2sn(nid));
  }
  return absl::InvalidArgumentError("unsupported digest algorithm");
}

absl::StatusOr<PkiMessage> ParsePkiMessage(absl::string_view der) {
  // OpenSSL 3.0 would build a key decoder for every certificate in the
  // message (~110 us each, serialised by its locks): the certificates are
  // parsed on their own (crypto::ParseCertificate) and handed to CMS.
  std::optional<SplitMessage> split = SplitCertificates(der);
  crypto::X509StackPtr certs;
  absl::string_view message = der;
  if (split.has_value()) {
    certs.reset(sk_X509_new_null());
    if (certs == nullptr) return crypto::SslInternal("certificate stack");
    for (absl::string_view cert_der : split->certificates) {
      absl::StatusOr<crypto::X509Ptr> cert = crypto::ParseCertificate(cert_der);
      if (!cert.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pkiMessage certificate: ", cert.status().message()));
      }
      if (sk_X509_push(certs.get(), cert->get()) == 0) {
        return crypto::SslInternal("certificate stack");
      }
      cert->release();
    }
    message = split->without_certificates;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(message.data());
  CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(message.size())));
  if (cms == nullptr) return crypto::SslInvalid("pkiMessage is not CMS");
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
    return absl::InvalidArgumentError("pkiMessage is not SignedData");
  }
  STACK_OF(CMS_SignerInfo)* sis = CMS_get0_SignerInfos(cms.get());
  if (sk_CMS_SignerInfo_num(sis) != 1) {
    return absl::InvalidArgumentError("pkiMessage needs exactly one signer");
  }
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(sis, 0);
  if (CMS_set1_signers_certs(cms.get(), certs.get(), 0) < 1) {
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
  if (const ASN1_OCTET_STRING* sig = CMS_SignerInfo_get0_signature(si); sig != nullptr) {
    msg.signature.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(sig)),
                         ASN1_STRING_length(sig));
  }

  ASN1_OCTET_STRING** content = CMS_get0_content(cms.get());
  if (content != nullptr && *content != nullptr) {
    msg.content.assign(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(*content)),
        ASN1_STRING_length(*content));
  }
  BioPtr sink(BIO_new(BIO_s_null()));
  msg.signature_valid =
      CMS_verify(cms.get(), certs.get(), nullptr, nullptr, sink.get(),
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
