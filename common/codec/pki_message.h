#ifndef SCEP_COMMON_CODEC_PKI_MESSAGE_H_
#define SCEP_COMMON_CODEC_PKI_MESSAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/codec/scep_types.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

// A decoded pkiMessage (RFC 8894 section 3.2): CMS SignedData whose signed
// attributes carry the SCEP fields and whose content is the pkcsPKIEnvelope.
struct PkiMessage {
  ScepAttributes attributes;
  // The signer's certificate as included in the message (self-signed for
  // PKCSReq, the current certificate for RenewalReq).
  crypto::X509Ptr signer_certificate;
  // OpenSSL name of the SignerInfo digest algorithm ("sha256", "sha1", ...).
  std::string digest;
  // True when the SignerInfo signature and messageDigest verify against the
  // signer certificate's key. The certificate itself is not path-validated.
  bool signature_valid = false;
  // The SignerInfo's signature value. Over the signed attributes, which hold
  // the content's digest and every SCEP field: with `signature_valid` it
  // identifies the signed message (the identical message again has it).
  std::string signature;
  // The encapsulated content: DER EnvelopedData, or empty.
  std::string content;
};

// Decodes `der`. InvalidArgument when it is not a SignedData with exactly one
// signer, a signer certificate and the mandatory SCEP attributes
// (messageType, transactionID, senderNonce). A bad signature is reported in
// `signature_valid`, not as an error, so the caller can answer with a signed
// FAILURE badMessageCheck (RFC 8894 section 3.3.2); a messageType that is
// a number but no known type is kept as sent (IsKnownMessageType), so the
// caller can answer FAILURE badRequest.
absl::StatusOr<PkiMessage> ParsePkiMessage(absl::string_view der);

// Builds a pkiMessage: SignedData over `content` (empty allowed), signed by
// `key` (which may live in a PKCS#11 token) with `digest`, carrying
// `attributes` and `certificate` as signer certificate. RSA signatures use
// the rsaEncryption SignerInfo algorithm, which every client accepts.
absl::StatusOr<std::string> SignPkiMessage(absl::string_view content,
                                           const ScepAttributes& attributes,
                                           X509* certificate, EVP_PKEY* key,
                                           absl::string_view digest);

// OpenSSL digest name for an AlgorithmIdentifier OID ("sha256", "md5"),
// or InvalidArgument for one OpenSSL does not know as a digest.
absl::StatusOr<std::string> DigestName(const ASN1_OBJECT* oid);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_PKI_MESSAGE_H_
