#ifndef SCEP_COMMON_PKCS11_CKR_H_
#define SCEP_COMMON_PKCS11_CKR_H_

// PKCS#11 return values (CK_RV) as names and absl::Status codes.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "p11-kit/pkcs11.h"

namespace scep::pkcs11 {

// The symbolic name of `rv` ("CKR_PIN_INCORRECT"), or "CKR_0x<hex>" for
// values without one.
std::string CkrName(CK_RV rv);

// The status code the project uses for `rv`: PermissionDenied for PIN
// failures, Unavailable for a token, device or session that went away,
// FailedPrecondition for requests the token cannot serve (unsupported
// mechanism, key size, curve), Internal otherwise. Must not be called with
// CKR_OK.
absl::StatusCode CkrCode(CK_RV rv);

// Status with CkrCode(rv) and the message "<what>: <CkrName(rv)>".
// `what` must not contain secrets (PINs).
absl::Status CkrError(absl::string_view what, CK_RV rv);

// As above with an explicit code.
absl::Status CkrError(absl::StatusCode code, absl::string_view what, CK_RV rv);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_CKR_H_
