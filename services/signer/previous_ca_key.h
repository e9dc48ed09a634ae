#ifndef SCEP_SERVICES_SIGNER_PREVIOUS_CA_KEY_H_
#define SCEP_SERVICES_SIGNER_PREVIOUS_CA_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::pkcs11 {
class Token;
}

namespace scep::signer {

// The CKA_LABEL of the one private key in the main token of `token` whose
// public key is `cert`'s: after a CA rollover the previous CA key stays in
// the token under whatever label it was provisioned with, and its
// certificate (ca-previous.pem) is what names it. NotFound when no key
// matches; FailedPrecondition naming the labels when several do (which
// one signs would be a guess); Unavailable when the token cannot be
// reached. Never a PIN or key material in a message.
absl::StatusOr<std::string> FindKeyLabelOf(pkcs11::Token& token, X509* cert);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_PREVIOUS_CA_KEY_H_
