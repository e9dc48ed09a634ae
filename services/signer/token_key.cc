#include "common/pkcs11/token.h"
#include "services/signer/key_access.h"

namespace scep::signer {
namespace {

class TokenKey final : public KeyAccess {
 public:
  TokenKey(pkcs11::Token* token, std::string token_label, std::string label)
      : token_(token), token_label_(std::move(token_label)), label_(std::move(label)) {}

  // A PIN the token refused is UNAVAILABLE to the gateway (503 +
  // Retry-After; devices retry later, which costs no PIN try: the token
  // never logs in again). PERMISSION_DENIED would be the device's fault to
  // the gateway: a FAILURE CertRep that devices do not retry.
  absl::Status WithKey(absl::FunctionRef<absl::Status(EVP_PKEY*)> fn) override {
    absl::Status status = token_->WithPrivateKey(token_label_, label_, fn);
    if (absl::IsPermissionDenied(status) && !token_->LoginRefused().ok()) {
      return absl::UnavailableError(status.message());
    }
    return status;
  }

  absl::StatusOr<std::string> DecryptOaep(const crypto::RsaOaepParams& params,
                                          absl::string_view ciphertext) override {
    absl::StatusOr<std::string> plaintext =
        token_->DecryptOaep(token_label_, label_, params, ciphertext);
    if (absl::IsPermissionDenied(plaintext.status()) && !token_->LoginRefused().ok()) {
      return absl::UnavailableError(plaintext.status().message());
    }
    return plaintext;
  }

  absl::StatusOr<crypto::EvpPkeyPtr> PublicKey() override {
    return token_->PublicKey(token_label_, label_);
  }

 private:
  pkcs11::Token* const token_;
  const std::string token_label_;
  const std::string label_;
};

}  // namespace

std::unique_ptr<KeyAccess> NewTokenKey(pkcs11::Token* token, std::string label) {
  return NewTokenKey(token, token->label(), std::move(label));
}

std::unique_ptr<KeyAccess> NewTokenKey(pkcs11::Token* token, std::string token_label,
                                       std::string label) {
  return std::make_unique<TokenKey>(token, std::move(token_label), std::move(label));
}

}  // namespace scep::signer
