#ifndef SCEP_SERVICES_SIGNER_OCSP_BUILDER_H_
#define SCEP_SERVICES_SIGNER_OCSP_BUILDER_H_

#include <openssl/ocsp.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::signer {

// One certificate's answer (RFC 6960 section 4.2.1).
struct OcspStatus {
  enum class Kind { kGood, kRevoked, kUnknown };
  std::string serial;  // big-endian magnitude, positive
  Kind kind = Kind::kUnknown;
  absl::Time revoked_at;  // kRevoked only
  int reason = -1;        // CRLReason, -1 none (0 is left out too); kRevoked only
};

struct OcspParams {
  std::string cert_id_digest = "sha1";  // "sha1" or "sha256"
  std::vector<OcspStatus> statuses;     // 1..16
  absl::Time this_update;
  absl::Time next_update;
  // extnValue of the request's nonce extension (RFC 8954: the DER of an
  // OCTET STRING of 1..32 octets), echoed byte for byte; "" for none.
  std::string nonce;
};

// The longest nonce extnValue taken: an OCTET STRING of 32 octets in DER
// (RFC 8954 section 2.1).
inline constexpr size_t kMaxOcspNonceValue = 34;

using OcspBasicPtr = crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;

// An unsigned BasicOCSPResponse of `ca` for `params`: one SingleResponse
// per status, its CertID built from `ca` with the requested digest, with
// thisUpdate/nextUpdate and, when revoked, revocationTime and reason, and
// the request's nonce extension when `params.nonce` is set.
// InvalidArgument for a digest other than sha1/sha256, no or more than 16
// statuses, an empty serial, an unknown reason, nextUpdate before
// thisUpdate or a nonce longer than kMaxOcspNonceValue.
absl::StatusOr<OcspBasicPtr> BuildOcspResponse(X509* ca, const OcspParams& params);

// Signs `basic` with the CA (`ca`, `key`: SHA-256, responderID by key
// hash, `ca` in certs so that relying parties find the signer) and wraps it
// in a successful OCSPResponse (DER).
absl::StatusOr<std::string> SignOcspResponse(OCSP_BASICRESP* basic, X509* ca, EVP_PKEY* key);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_OCSP_BUILDER_H_
