#ifndef SCEP_COMMON_CODEC_ENVELOPE_H_
#define SCEP_COMMON_CODEC_ENVELOPE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

// The pkcsPKIEnvelope (RFC 8894 section 3.2.2): CMS EnvelopedData with
// key transport (RSA) to one recipient certificate.

// Encrypts `plaintext` to `recipient` with `cipher` (OpenSSL name, e.g.
// "aes-128-cbc"; single DES needs the legacy provider loaded). RSA key
// transport is PKCS#1 v1.5 unless `rsa_oaep` (RSAES-OAEP, SHA-1 MGF1 as
// clients use it); an EC recipient gets ECDH key agreement.
absl::StatusOr<std::string> Envelope(absl::string_view plaintext,
                                     X509* recipient,
                                     absl::string_view cipher,
                                     bool rsa_oaep = false);

// Decrypts EnvelopedData `der` addressed to `certificate` with its private
// `key` (which may live in a PKCS#11 token). InvalidArgument when the
// envelope is malformed or has no recipient matching `certificate`.
absl::StatusOr<std::string> Decrypt(absl::string_view der, X509* certificate,
                                    EVP_PKEY* key);

// Whether a KeyTransRecipientInfo of EnvelopedData `der` names
// `certificate` (by issuer and serial number, or subject key identifier).
// Reading which RA certificate a device encrypted to, when the signer keeps
// a previous one (RA renewal or key rollover). InvalidArgument when `der`
// is not EnvelopedData.
absl::StatusOr<bool> IsRecipient(absl::string_view der, X509* certificate);

// EnvelopedData `ber` (a ContentInfo) re-encoded as DER. Clients built on
// BouncyCastle (jscep, many Android agents) and Apple's send indefinite
// lengths, which the DER walks here (EnvelopeCipher, KeyTransportAlgorithm)
// do not read. InvalidArgument when it is not EnvelopedData (or
// AuthEnvelopedData, re-encoded so that EnvelopeCipher can name it).
absl::StatusOr<std::string> EnvelopeAsDer(absl::string_view ber);

// OpenSSL name of the content-encryption algorithm of EnvelopedData `der`
// ("aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "des-ede3-cbc", "des-cbc"),
// read from the DER without decrypting. InvalidArgument when `der` is
// malformed or not EnvelopedData; Unimplemented, naming the algorithm, for
// a well-formed envelope of another cipher (RC2, Camellia, ...) or an
// AuthEnvelopedData (RFC 5083, AES-GCM): the algorithm, not the message,
// is refused (failInfo badAlg).
absl::StatusOr<std::string> EnvelopeCipher(absl::string_view der);

// NID of the key-encryption algorithm of the first RecipientInfo of
// EnvelopedData `der` when it is a KeyTransRecipientInfo
// (NID_rsaEncryption, NID_rsaesOaep, ...), read from the DER without
// parsing the whole message. InvalidArgument when malformed or of another
// kind.
absl::StatusOr<int> KeyTransportAlgorithm(absl::string_view der);

// A degenerate certificates-only SignedData (RFC 8894 section 3.4), the
// payload of a CertRep SUCCESS and of GetCACert with CA and RA.
absl::StatusOr<std::string> DegenerateCertificates(
    const std::vector<X509*>& certificates);

// The certificates of a degenerate SignedData. The field is a SET OF, so
// the order is DER order, not the order they were added in.
absl::StatusOr<std::vector<crypto::X509Ptr>> ParseDegenerateCertificates(
    absl::string_view der);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_ENVELOPE_H_
