#include "common/crypto/pem.h"

#include <openssl/pem.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/der.h"
#include "common/crypto/public_keys.h"
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

namespace {

template <typename Ptr, typename T>
absl::StatusOr<Ptr> FromDerOrPem(absl::string_view data,
                                 T* (*d2i)(T**, const unsigned char**, long),
                                 T* (*pem_read)(BIO*, T**, pem_password_cb*, void*),
                                 absl::string_view what) {
  if (!absl::StrContains(data, "-----BEGIN ")) return FromDer<Ptr>(data, d2i, what);
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  Ptr parsed(bio == nullptr ? nullptr : pem_read(bio.get(), nullptr, NoPassphrase, nullptr));
  if (parsed == nullptr) return SslInvalid(absl::StrCat(what, ": not a valid PEM ", what));
  return parsed;
}

}  // namespace

absl::StatusOr<X509Ptr> CertificateFromDerOrPem(absl::string_view data) {
  // DER (a restore sends thousands) the quick way: OpenSSL 3.0's key
  // decoder set-up is most of d2i_X509's time.
  if (!absl::StrContains(data, "-----BEGIN ")) return ParseCertificate(data);
  return FromDerOrPem<X509Ptr>(data, d2i_X509, PEM_read_bio_X509, "certificate");
}

absl::StatusOr<X509CrlPtr> CrlFromDerOrPem(absl::string_view data) {
  return FromDerOrPem<X509CrlPtr>(data, d2i_X509_CRL, PEM_read_bio_X509_CRL, "CRL");
}

absl::StatusOr<X509ReqPtr> CsrFromDerOrPem(absl::string_view data) {
  return FromDerOrPem<X509ReqPtr>(data, d2i_X509_REQ, PEM_read_bio_X509_REQ,
                                  "certificate request");
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
