#ifndef SCEP_COMMON_PKCS11_KEY_GENERATOR_H_
#define SCEP_COMMON_PKCS11_KEY_GENERATOR_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/pkcs11/key_spec.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {

// What a key pair is for: the CA key only signs (certificates, CRLs, OCSP
// answers); the RA key also decrypts request envelopes (RFC 8894 section
// 3.2.2).
enum class KeyUse { kSign, kSignAndDecrypt };

// Generates a key pair of type `spec` inside the token of `session`, which
// must be read-write with the user logged in. Both halves are token objects
// with CKA_LABEL `label` and CKA_ID `id` (bytes; libp11 pairs private and
// public keys by CKA_ID, so ids must differ between key pairs). The private
// key is CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE and may sign; with
// kSignAndDecrypt an RSA key may also decrypt (CKA_DECRYPT) and its public
// half encrypt. Nothing else: no unwrap, wrap or derive. The public key may
// verify.
//
// Errors: FailedPrecondition when the token cannot generate this type (e.g.
// unsupported size or curve), other codes as CkrError maps them.
absl::Status GenerateKeyPair(const Session& session, const KeySpec& spec, KeyUse use,
                             absl::string_view label, absl::string_view id);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_KEY_GENERATOR_H_
