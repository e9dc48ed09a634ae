#include "common/codec/csr.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/asn1_text.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"
#include "common/crypto/ssl_error.h"

namespace scep::codec {
namespace {

absl::StatusOr<std::optional<std::string>> ChallengePassword(X509_REQ* req) {
  int idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1);
  if (idx < 0) return std::nullopt;
  X509_ATTRIBUTE* attr = X509_REQ_get_attr(req, idx);
  // One password (RFC 2985 5.4.1: single-valued): with two, which one a
  // check reads is a matter of which code reads it.
  if (X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, idx) >= 0 ||
      X509_ATTRIBUTE_count(attr) > 1) {
    return absl::InvalidArgumentError("more than one challengePassword");
  }
  ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
  if (value == nullptr) {
    return absl::InvalidArgumentError("empty challengePassword attribute");
  }
  // A DirectoryString (RFC 2985 5.4.1): compared as UTF-8 whatever its
  // encoding, so a BMPString from Windows matches the same secret.
  switch (ASN1_TYPE_get(value)) {
    case V_ASN1_BOOLEAN:
    case V_ASN1_NULL:
    case V_ASN1_OBJECT:
    case V_ASN1_SEQUENCE:
    case V_ASN1_SET:
    case V_ASN1_OTHER:
      return absl::InvalidArgumentError("challengePassword has the wrong type");
    default:
      break;
  }
  return crypto::Utf8Text(value->value.asn1_string, "challengePassword");
}

}  // namespace

absl::StatusOr<std::string> RequestFingerprint(const X509_NAME* subject,
                                               const X509_PUBKEY* key) {
  ASSIGN_OR_RETURN(std::string name, crypto::ToDer(subject, i2d_X509_NAME));
  // The encoded SubjectPublicKeyInfo as it came: the same bytes as
  // i2d_PUBKEY(key) without OpenSSL 3 re-encoding the key (measured ~70 us).
  ASSIGN_OR_RETURN(std::string spki, crypto::ToDer(key, i2d_X509_PUBKEY));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), name.data(), name.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), spki.data(), spki.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) {
    return crypto::SslInternal("CSR fingerprint");
  }
  return std::string(reinterpret_cast<char*>(md), md_len);
}

absl::StatusOr<Csr> ParseCsr(absl::string_view der, X509* key_from,
                             CsrSignature signature) {
  Csr csr;
  // Both the gateway and the signer parse every CSR: the key is decoded
  // once, through the per-thread decoder (crypto/public_keys.h), unless
  // `key_from` already holds it (a PKCSReq is signed with the CSR's key).
  ASSIGN_OR_RETURN(csr.request, crypto::ParseRequestWithoutKey(der));
  const X509_PUBKEY* spki = X509_REQ_get_X509_PUBKEY(csr.request.get());
  EVP_PKEY* known = key_from != nullptr ? X509_get0_pubkey(key_from) : nullptr;
  const bool same_key =
      known != nullptr && crypto::SamePublicKey(spki, X509_get_X509_PUBKEY(key_from)) &&
      EVP_PKEY_up_ref(known) == 1;
  if (same_key) {
    csr.public_key.reset(known);
  } else {
    absl::StatusOr<crypto::EvpPkeyPtr> key = crypto::DecodePublicKey(spki);
    if (!key.ok()) {
      return absl::InvalidArgumentError("certificate request has no usable public key");
    }
    csr.public_key = *std::move(key);
  }
  if (!same_key || signature != CsrSignature::kUnlessSignedWithItsKey) {
    RETURN_IF_ERROR(VerifyCsrSignature(csr));
  }
  ASSIGN_OR_RETURN(csr.challenge_password, ChallengePassword(csr.request.get()));
  ASSIGN_OR_RETURN(csr.fingerprint,
                   RequestFingerprint(X509_REQ_get_subject_name(csr.request.get()),
                                      X509_REQ_get_X509_PUBKEY(csr.request.get())));
  csr.der = std::string(der);
  return csr;
}

absl::Status VerifyCsrSignature(Csr& csr) {
  if (csr.signature_checked) return absl::OkStatus();
  if (csr.request == nullptr || csr.public_key == nullptr ||
      X509_REQ_verify(csr.request.get(), csr.public_key.get()) != 1) {
    crypto::DrainSslErrors();
    return absl::PermissionDeniedError(
        "certificate request signature does not verify");
  }
  csr.signature_checked = true;
  return absl::OkStatus();
}

absl::StatusOr<crypto::GeneralNamesPtr> RequestedSubjectAltName(X509_REQ* request) {
  int attributes = 0;
  for (int nid : {NID_ext_req, NID_ms_ext_req}) {
    for (int i = X509_REQ_get_attr_by_NID(request, nid, -1); i >= 0;
         i = X509_REQ_get_attr_by_NID(request, nid, i)) {
      if (++attributes > 1 || X509_ATTRIBUTE_count(X509_REQ_get_attr(request, i)) != 1) {
        return absl::InvalidArgumentError(
            "the request carries more than one extensionRequest");
      }
    }
  }
  // No extensionRequest: an empty stack; one that does not decode: null.
  crypto::ExtStackPtr extensions(X509_REQ_get_extensions(request));
  if (extensions == nullptr) {
    crypto::DrainSslErrors();
    return absl::InvalidArgumentError("the request's extensionRequest does not decode");
  }
  crypto::GeneralNamesPtr names;
  for (int i = 0; i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
    X509_EXTENSION* extension = sk_X509_EXTENSION_value(extensions.get(), i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(extension)) != NID_subject_alt_name) continue;
    if (names != nullptr) {
      return absl::InvalidArgumentError(
          "the request carries more than one subjectAltName extension");
    }
    names.reset(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(extension)));
    if (names == nullptr) {
      crypto::DrainSslErrors();
      return absl::InvalidArgumentError("the request's subjectAltName does not decode");
    }
    if (sk_GENERAL_NAME_num(names.get()) == 0) {
      return absl::InvalidArgumentError("the request's subjectAltName holds no name");
    }
  }
  return names;
}

namespace {

std::string PrintName(const X509_NAME* name, unsigned long flags) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) {
    crypto::DrainSslErrors();
    return "<unprintable>";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

std::string SubjectText(const X509_NAME* name) { return PrintName(name, XN_FLAG_RFC2253); }

std::string SubjectUtf8Text(const X509_NAME* name) {
  return PrintName(name, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
}

namespace {

// OpenSSL's canonical form of a value (x509_name_canon): UTF-8, ASCII
// lower case, leading and trailing spaces dropped, inner runs of spaces one.
std::string CanonicalValue(const ASN1_STRING* value) {
  absl::StatusOr<std::string> text = crypto::Utf8Text(value, "value");
  if (!text.ok()) {
    // Not text (or broken): its type and bytes, which no text equals.
    return absl::StrCat("\x01", ASN1_STRING_type(value), ":",
                        absl::string_view(reinterpret_cast<const char*>(
                                              ASN1_STRING_get0_data(value)),
                                          static_cast<size_t>(ASN1_STRING_length(value))));
  }
  std::string out;
  out.reserve(text->size());
  bool space = false;
  for (char c : *text) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string ObjectText(const ASN1_OBJECT* object) {
  const int len = std::max(0, OBJ_obj2txt(nullptr, 0, object, /*no_name=*/1));
  std::string oid(static_cast<size_t>(len) + 1, '\0');
  OBJ_obj2txt(oid.data(), len + 1, object, /*no_name=*/1);
  oid.resize(static_cast<size_t>(len));
  return oid;
}

std::vector<std::pair<std::string, std::string>> CanonicalAttributes(const X509_NAME* name) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    out.emplace_back(ObjectText(X509_NAME_ENTRY_get_object(entry)),
                     CanonicalValue(X509_NAME_ENTRY_get_data(entry)));
  }
  return out;
}

}  // namespace

bool SameAttributes(const X509_NAME* a, const X509_NAME* b) {
  auto left = CanonicalAttributes(a);
  auto right = CanonicalAttributes(b);
  std::sort(left.begin(), left.end());
  std::sort(right.begin(), right.end());
  return left == right;
}

std::string SubjectDigestHex(const X509_NAME* name) {
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return "";
  bool ok = true;
  const auto attributes = CanonicalAttributes(name);  // in the name's order
  for (size_t i = 0; i < attributes.size(); ++i) {
    const auto& [oid, value] = attributes[i];
    // Length-prefixed parts, with the RDN each belongs to: no two different
    // names share an encoding.
    const int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, static_cast<int>(i)));
    const std::string part =
        absl::StrCat(set, ";", oid.size(), ":", oid, ";", value.size(), ":", value);
    ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ok || EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return "";
  return Hex(absl::string_view(reinterpret_cast<char*>(md), len));
}

std::string Hex(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

}  // namespace scep::codec
