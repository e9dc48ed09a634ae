#include "services/signer/previous_ca_key.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/pkcs11/token.h"

namespace scep::signer {

absl::StatusOr<std::string> FindKeyLabelOf(pkcs11::Token& token, X509* cert) {
  EVP_PKEY* wanted = cert == nullptr ? nullptr : X509_get0_pubkey(cert);
  if (wanted == nullptr) return absl::InvalidArgumentError("the certificate has no public key");
  ASSIGN_OR_RETURN(std::vector<std::string> labels, token.PrivateKeyLabels(token.label()));
  std::vector<std::string> matches;
  for (const std::string& label : labels) {
    absl::StatusOr<crypto::EvpPkeyPtr> key = token.PublicKey(label);
    if (absl::IsUnavailable(key.status())) return key.status();
    // A label without its public half, or held by several keys, cannot be
    // told apart here; such a key is not the one.
    if (!key.ok()) continue;
    if (EVP_PKEY_eq(key->get(), wanted) == 1) matches.push_back(label);
  }
  if (matches.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no private key in token '", token.label(), "' has its public key"));
  }
  if (matches.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "several private keys in token '", token.label(),
        "' have its public key: ", absl::StrJoin(matches, ", ")));
  }
  return matches.front();
}

}  // namespace scep::signer
