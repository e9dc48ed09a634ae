#ifndef SCEP_COMMON_PKCS11_RA_ROLLOVER_H_
#define SCEP_COMMON_PKCS11_RA_ROLLOVER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"
#include "common/pkcs11/provisioner.h"

namespace scep::pkcs11 {

// The previous RA certificate and key: what the signer keeps accepting
// request envelopes for after an RA renewal or key rollover, so devices that
// fetched the old RA certificate (GetCACert) before every gateway published
// the new one still enroll. Nothing else uses them: GetCACert publishes the
// current RA certificate and CertReps are signed with the current key.
//
// Layout, beside the current ones:
//   certificate  <dir>/ra.pem        -> <dir>/ra-previous.pem
//   key in token "scep-ra"           -> "scep-ra.previous" (CKA_ID from it)
//   key file     <path>/ra-key.pem   -> <path>/ra-key-previous.pem
// A renewal keeps the key, so it has a previous certificate but no previous
// key. '.' is outside the alphabet of issuing CA names, so a previous label
// never collides with a further CA's "<ra label>-NAME".

// "x.pem" -> "x-previous.pem"; any other name gets "-previous" appended.
std::string PreviousPath(absl::string_view path);
// "scep-ra" -> "scep-ra.previous".
std::string PreviousRaKeyLabel(absl::string_view ra_key_label);

// Whether the previous RA key exists where `options` places the RA key (the
// token, `ra_token_label`, or beside `ra_key_file`). Needs the user PIN (or
// `ra_user_pin`) for a token.
absl::StatusOr<bool> PreviousRaKeyExists(const ProvisionOptions& options);

struct RaRollover {
  crypto::X509Ptr ra;    // the new RA certificate, written to <dir>/ra.pem
  bool resumed = false;  // an interrupted rollover was completed
};

// RA key rollover: keeps the current RA certificate as <dir>/ra-previous.pem
// and the current key as the previous key, generates a new RA key
// (`options.ra_key`) where `options` places it, and writes its certificate,
// issued by `ca` (the CA certificate in use, kept) with the token's CA key,
// to <dir>/ra.pem. Every step can be repeated: a rollover interrupted at any
// point completes when run again. FailedPrecondition when a previous RA key
// is still kept from an earlier rollover (drop it first: DropPreviousRa) or
// `ca` is not the token's CA key's; NotFound when there is no RA key or
// certificate to roll over.
absl::StatusOr<RaRollover> RollOverRaKey(const ProvisionOptions& options, const X509* ca,
                                         const std::string& dir);

// Ends the overlap: removes <dir>/ra-previous.pem and the previous RA key.
// Returns what was removed (certificate, key); NotFound when neither existed.
struct DroppedPreviousRa {
  bool certificate = false;
  bool key = false;
};
absl::StatusOr<DroppedPreviousRa> DropPreviousRa(const ProvisionOptions& options,
                                                 const std::string& dir);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_RA_ROLLOVER_H_
