#ifndef SCEP_COMMON_CODEC_OAEP_ENVELOPE_H_
#define SCEP_COMMON_CODEC_OAEP_ENVELOPE_H_

#include <openssl/x509.h>

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/rsa_oaep_params.h"

namespace scep::codec {

// Decrypts `encrypted_key` (RSAES-OAEP with `params`) to the
// content-encryption key. InvalidArgument when the ciphertext is rejected;
// any other error is returned as it is.
using OaepUnwrap = absl::FunctionRef<absl::StatusOr<std::string>(
    const crypto::RsaOaepParams& params, absl::string_view encrypted_key)>;

// Decrypts EnvelopedData `der` (DER, RFC 8894 section 3.2.2) whose
// KeyTransRecipientInfo for `certificate` uses RSAES-OAEP (RFC 8017,
// parameters as RFC 4055 section 4.1), with `unwrap` decrypting the
// content-encryption key (the RA key's token: CKM_RSA_PKCS_OAEP) and the
// content decrypted here.
//
// As CMS_decrypt does against padding oracles, a rejected key (`unwrap`
// InvalidArgument) is replaced by a random one and the content decrypted
// all the same; either failure is the same InvalidArgument, with the same
// message. Errors: Unimplemented when the recipient's key transport is not
// RSAES-OAEP (decrypt with Decrypt); InvalidArgument when `der` is
// malformed, not for `certificate`, or does not decrypt; unwrap's own
// errors other than InvalidArgument.
absl::StatusOr<std::string> DecryptOaep(absl::string_view der, X509* certificate,
                                        OaepUnwrap unwrap);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_OAEP_ENVELOPE_H_
