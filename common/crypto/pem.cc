#include "common/crypto/pem.h"

#include <openssl/pem.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {

absl::StatusOr<X509Ptr> LoadCertificateFile(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return SslError(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("cannot open certificate file ", path));
  }
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return SslError(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("no PEM certificate in ", path));
  }
  return cert;
}

namespace {

// A daemon has no terminal to ask: an encrypted key is an error, not a prompt.
int NoPassphrase(char*, int, int, void*) { return -1; }

}  // namespace

absl::StatusOr<EvpPkeyPtr> LoadPrivateKeyFile(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return SslError(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("cannot open key file ", path));
  }
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return SslError(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("no unencrypted PEM private key in ", path));
  }
  return key;
}

std::string Sha256Fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof(buf), i == 0 ? "%02X" : ":%02X", md[i]);
    out += (i == 0) ? std::string(buf, 2) : std::string(buf, 3);
  }
  return out;
}

}  // namespace scep::crypto
