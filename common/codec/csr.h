#ifndef SCEP_COMMON_CODEC_CSR_H_
#define SCEP_COMMON_CODEC_CSR_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

// A PKCS#10 request as carried in PKCSReq (RFC 8894 section 3.3.1).
struct Csr {
  // Parsed without OpenSSL's own key decode (crypto::ParseRequestWithoutKey):
  // X509_REQ_get0_pubkey(request) is nullptr; use `public_key`.
  crypto::X509ReqPtr request;
  // The request's public key.
  crypto::EvpPkeyPtr public_key;
  // The challengePassword attribute (PKCS#9), when present. Secret: never
  // log it.
  std::optional<std::string> challenge_password;
  // SHA-256 over the DER subject and SubjectPublicKeyInfo: equal for a
  // retransmission of the same request, different for another key or name.
  std::string fingerprint;
  // The DER as received (what the signer is sent; no re-encoding).
  std::string der;
  // Whether the self-signature was verified (see CsrSignature).
  bool signature_checked = false;
};

// What ParseCsr does with the request's self-signature.
enum class CsrSignature {
  // Verify it; PermissionDenied when it does not verify.
  kVerify,
  // `key_from` is the certificate whose key verified the signature of the
  // pkiMessage that carried this CSR. When the CSR holds that very key
  // (a PKCSReq is signed with the requester's own key, RFC 8894 section
  // 3.3.1), possession of the key is already shown by that signature and
  // the self-signature is left unchecked (Csr::signature_checked false):
  // the caller must call VerifyCsrSignature before acting on the request
  // other than by sending it to the signer, which verifies every CSR it
  // issues from. Otherwise (no key_from, another key) as kVerify.
  kUnlessSignedWithItsKey,
};

// Decodes a DER CSR and checks its self-signature (unless `signature` says
// otherwise, see CsrSignature). InvalidArgument when malformed;
// PermissionDenied when the signature does not verify.
// When `key_from` (e.g. the certificate that signed the pkiMessage, or the
// CertRep recipient) holds the CSR's very key, its decoded key is used
// instead of decoding the CSR's: one key decode and one RSA Montgomery
// set-up less per request.
absl::StatusOr<Csr> ParseCsr(absl::string_view der, X509* key_from = nullptr,
                             CsrSignature signature = CsrSignature::kVerify);

// Csr::fingerprint of a request for `subject` with `key`: SHA-256 over the
// DER name and SubjectPublicKeyInfo. A CertPoll's subject and signer key
// give the fingerprint of the request it polls for.
absl::StatusOr<std::string> RequestFingerprint(const X509_NAME* subject,
                                               const X509_PUBKEY* key);

// Verifies `csr`'s self-signature unless already done and sets
// signature_checked. PermissionDenied when it does not verify.
absl::Status VerifyCsrSignature(Csr& csr);

// The subjectAltName `request` asks for (PKCS#9 extensionRequest); null
// when it asks for none. InvalidArgument when that is ambiguous or broken:
// more than one extensionRequest attribute or value, an extensionRequest
// that does not decode, more than one subjectAltName extension (OpenSSL's
// X509V3_get_d2i finds none among two, so a policy reading it checked no
// name while the certificate got the first), or a subjectAltName that does
// not decode or holds no name. The gateway's policy and the signer both
// read a request's names through this alone.
absl::StatusOr<crypto::GeneralNamesPtr> RequestedSubjectAltName(X509_REQ* request);

// One-line subject (RFC 2253) for logs and errors.
std::string SubjectText(const X509_NAME* name);

// SubjectText with characters beyond ASCII as UTF-8 ("CN=Jürgen") rather
// than escaped octets ("CN=J\C3\BCrgen"): what people type to search.
std::string SubjectUtf8Text(const X509_NAME* name);

// Lower-case hex SHA-256 of the subject in a canonical form: a bounded key
// for per-subject state. Names X509_NAME_cmp holds equal get the same key:
// each value as UTF-8 whatever its string type, ASCII case folded, spaces
// trimmed and runs of them collapsed (so "CN=Dev" as a PrintableString and
// "cn= dev" as a BMPString are one subject).
std::string SubjectDigestHex(const X509_NAME* name);

// True when `a` and `b` hold the same attributes, each compared in the
// canonical form above, in any order: "CN=laptop-7, O=Fleet" written by an
// administrator names the device whose subject is O=Fleet then CN=laptop-7.
bool SameAttributes(const X509_NAME* a, const X509_NAME* b);

// Lower-case hex of `bytes`.
std::string Hex(absl::string_view bytes);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_CSR_H_
