#include "common/crypto/ca_chain.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"

namespace scep::crypto {
namespace {

std::string Subject(const X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

bool HasKeyUsage(X509* cert, uint32_t bits, bool strict) {
  // A CA certificate must carry keyUsage (RFC 5280 4.2.1.3): without it,
  // "every use" is what lax verifiers read, not strict ones.
  if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0) return !strict;
  return (X509_get_key_usage(cert) & bits) == bits;
}

// Verifies `leaf` with `intermediates` untrusted and `root` the only trust
// anchor, strictly. On success the length of the path built; otherwise
// FailedPrecondition "<what> does not verify under its chain: ...".
absl::StatusOr<int> VerifyPath(X509* leaf, const std::vector<X509*>& intermediates, X509* root,
                               absl::string_view what, int purpose, bool strict = true) {
  X509StorePtr store(X509_STORE_new());
  struct FreeStack {
    void operator()(STACK_OF(X509)* stack) const { sk_X509_free(stack); }  // not the certs
  };
  std::unique_ptr<STACK_OF(X509), FreeStack> untrusted(sk_X509_new_null());
  if (store == nullptr || untrusted == nullptr || X509_STORE_add_cert(store.get(), root) != 1) {
    return SslInternal("X509_STORE");
  }
  for (X509* cert : intermediates) {
    if (sk_X509_push(untrusted.get(), cert) <= 0) return SslInternal("chain");
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1 ||
      (purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1)) {
    return SslInternal("X509_STORE_CTX");
  }
  if (strict) X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    ERR_clear_error();
    return absl::FailedPreconditionError(absl::StrCat(
        what, " does not verify under its chain: ", X509_verify_cert_error_string(error),
        at != nullptr ? " at " + Subject(at) : ""));
  }
  return sk_X509_num(X509_STORE_CTX_get0_chain(ctx.get()));
}

absl::Status CheckRoot(const std::vector<X509Ptr>& chain) {
  if (chain.empty()) return absl::FailedPreconditionError("the CA chain is empty");
  X509* root = chain.back().get();
  if (X509_check_issued(root, root) != X509_V_OK) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA chain does not end with a self-signed root (last: ", Subject(root), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyCaChain(X509* ca, const std::vector<X509Ptr>& chain, bool strict) {
  RETURN_IF_ERROR(CheckRoot(chain));
  // 1 only for basicConstraints CA:TRUE; 4 (keyCertSign without
  // basicConstraints) and the like are CAs to lax verifiers only.
  if (strict ? X509_check_ca(ca) != 1 : X509_check_ca(ca) < 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA certificate (", Subject(ca), ") has no basicConstraints CA:TRUE"));
  }
  if (!HasKeyUsage(ca, KU_KEY_CERT_SIGN | KU_CRL_SIGN, strict)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA certificate (", Subject(ca),
        ") is not a CA certificate with keyCertSign and cRLSign in its keyUsage"));
  }
  std::vector<X509*> intermediates;
  for (size_t i = 0; i + 1 < chain.size(); ++i) intermediates.push_back(chain[i].get());
  ASSIGN_OR_RETURN(int length, VerifyPath(ca, intermediates, chain.back().get(),
                                          "the CA certificate", 0, strict));
  // Every certificate of the chain must be used: a stray one is a mistake.
  if (length != static_cast<int>(chain.size()) + 1) {
    return absl::FailedPreconditionError(
        "the CA chain holds certificates that are not on the path from the CA to the root");
  }
  return absl::OkStatus();
}

absl::Status VerifyIssuedUnderCaChain(X509* cert, X509* ca, const std::vector<X509Ptr>& chain) {
  RETURN_IF_ERROR(CheckRoot(chain));
  std::vector<X509*> intermediates{ca};
  for (size_t i = 0; i + 1 < chain.size(); ++i) intermediates.push_back(chain[i].get());
  return VerifyPath(cert, intermediates, chain.back().get(),
                    absl::StrCat("the certificate ", Subject(cert)), X509_PURPOSE_ANY)
      .status();
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
