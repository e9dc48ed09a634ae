#include "common/crypto/ca_key_id.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"

namespace scep::crypto {

std::string CaKeyId(X509* ca) {
  if (ca == nullptr) return "";
  if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca); ski != nullptr) {
    return absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
        static_cast<size_t>(ASN1_STRING_length(ski))));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_pubkey_digest(ca, EVP_sha1(), md, &length) != 1) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), length));
}

bool IsCaKeyId(absl::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

std::string CertificateSha256(X509* cert) {
  if (cert == nullptr) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), md, &length) != 1) return "";
  return std::string(reinterpret_cast<const char*>(md), length);
}

std::string ExpandKeyPlaceholder(absl::string_view uri, absl::string_view key_id) {
  return absl::StrReplaceAll(uri, {{"{key}", key_id}});
}

}  // namespace scep::crypto
