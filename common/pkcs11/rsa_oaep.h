#ifndef SCEP_COMMON_PKCS11_RSA_OAEP_H_
#define SCEP_COMMON_PKCS11_RSA_OAEP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/rsa_oaep_params.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {

// RSAES-OAEP decryption of `ciphertext` in the token with the private key
// labelled `key_label`: C_Decrypt with CKM_RSA_PKCS_OAEP and `params`, on
// `session` (logged in). Written against Cryptoki directly because libp11
// 0.4.12 under OpenSSL 3 unpads OAEP in software over CKM_RSA_X_509 (raw
// RSA), which FIPS partitions and keys with CKA_ALLOWED_MECHANISMS refuse.
//
// Errors: FailedPrecondition when the token refuses the mechanism or these
// parameters at C_DecryptInit (the message names the CKR; nothing about the
// ciphertext is known yet), or for a hash it has no CKM for; NotFound /
// FailedPrecondition when there is no / more than one such key;
// Unavailable when the session or login is gone. InvalidArgument, always
// with the same message and never the CKR, when C_Decrypt rejects the
// ciphertext: which check failed is what an OAEP padding oracle (Manger)
// would need.
absl::StatusOr<std::string> DecryptRsaOaep(const Session& session, absl::string_view key_label,
                                           const crypto::RsaOaepParams& params,
                                           absl::string_view ciphertext);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_RSA_OAEP_H_
