#include "common/crypto/ca_chain.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {
namespace {

std::string Subject(const X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

bool HasKeyUsage(X509* cert, uint32_t bits) {
  // No keyUsage extension at all allows every use (RFC 5280 4.2.1.3).
  return (X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0 ||
         (X509_get_key_usage(cert) & bits) == bits;
}

}  // namespace

absl::Status VerifyCaChain(X509* ca, const std::vector<X509Ptr>& chain) {
  if (chain.empty()) return absl::FailedPreconditionError("the CA chain is empty");
  X509* root = chain.back().get();
  if (X509_check_issued(root, root) != X509_V_OK) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA chain does not end with a self-signed root (last: ", Subject(root), ")"));
  }
  if (X509_check_ca(ca) < 1 || !HasKeyUsage(ca, KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA certificate (", Subject(ca),
        ") is not a CA certificate with keyCertSign and cRLSign"));
  }
  X509StorePtr store(X509_STORE_new());
  struct FreeStack {
    void operator()(STACK_OF(X509)* stack) const { sk_X509_free(stack); }  // not the certs
  };
  std::unique_ptr<STACK_OF(X509), FreeStack> untrusted(sk_X509_new_null());
  if (store == nullptr || untrusted == nullptr || X509_STORE_add_cert(store.get(), root) != 1) {
    return SslInternal("X509_STORE");
  }
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) return SslInternal("chain");
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store.get(), ca, untrusted.get()) != 1) {
    return SslInternal("X509_STORE_CTX");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA certificate does not verify under its chain: ",
        X509_verify_cert_error_string(error), at != nullptr ? " at " + Subject(at) : ""));
  }
  // Every certificate of the chain must be used: a stray one is a mistake.
  if (sk_X509_num(X509_STORE_CTX_get0_chain(ctx.get())) != static_cast<int>(chain.size()) + 1) {
    return absl::FailedPreconditionError(
        "the CA chain holds certificates that are not on the path from the CA to the root");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<X509Ptr>> LoadCertificateChainFile(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return SslError(absl::StatusCode::kFailedPrecondition,
                    absl::StrCat("cannot open certificate file ", path));
  }
  std::vector<X509Ptr> chain;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    chain.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the file
  if (chain.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("no PEM certificate in ", path));
  }
  return chain;
}

}  // namespace scep::crypto
