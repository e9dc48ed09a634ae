#ifndef SCEP_COMMON_CODEC_CLIENT_H_
#define SCEP_COMMON_CODEC_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/codec/pki_message.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::codec {

// The device side of RFC 8894, for tests and the load generator: build a
// PKCSReq the way a device does and open the CertRep it gets back.

struct CsrSpec {
  std::string common_name;
  std::string challenge;            // empty: no challengePassword
  // ASN.1 string types for the CN and the challengePassword (both given as
  // UTF-8 above): 0 lets OpenSSL choose (PrintableString, else UTF8String);
  // V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING or V_ASN1_T61STRING encode the
  // text as that type, as Windows' CryptoAPI writes BMPString.
  int common_name_type = 0;
  int challenge_type = 0;
  std::vector<std::string> dns_sans;
  // More subjectAltNames in OpenSSL's config syntax ("IP:2001:db8::7",
  // "email:a@example.com").
  std::vector<std::string> other_sans;
  // More names as raw bytes, unchecked, as a broken or hostile device may
  // send them: {GEN_DNS, GEN_EMAIL, GEN_URI or GEN_IPADD, content octets},
  // or {GEN_OTHERNAME, UTF-8 octets} for a Microsoft UPN. In the same
  // subjectAltName extension as the names above.
  std::vector<std::pair<int, std::string>> raw_sans;
  // Extensions requested after the subjectAltName of the names above, as
  // given: {NID, DER extnValue} (a second subjectAltName, one that does not
  // decode).
  std::vector<std::pair<int, std::string>> extra_extensions;
  const EVP_MD* digest = nullptr;   // nullptr: SHA-256
};

// DER PKCS#10 signed by `key`.
absl::StatusOr<std::string> BuildCsr(EVP_PKEY* key, const CsrSpec& spec);

// Self-signed certificate for `key` (RFC 8894 section 2.3: the transient
// certificate a device signs its first request with).
absl::StatusOr<crypto::X509Ptr> SelfSignedCertificate(EVP_PKEY* key,
                                                      absl::string_view cn);

struct PkcsReqSpec {
  std::string transaction_id;
  std::string sender_nonce;
  std::string cipher = "aes-128-cbc";
  std::string digest = "sha256";
  MessageType message_type = MessageType::kPkcsReq;
  bool rsa_oaep = false;  // RSAES-OAEP key transport instead of PKCS#1 v1.5
  // The envelope in BER with indefinite lengths, as BouncyCastle (jscep)
  // and Apple's client write it (AES only).
  bool ber_envelope = false;
};

// pkiMessage carrying `csr_der` encrypted to `ra` and signed by `key` with
// `signer` as signer certificate.
absl::StatusOr<std::string> BuildPkcsReq(absl::string_view csr_der,
                                         X509* signer, EVP_PKEY* key, X509* ra,
                                         const PkcsReqSpec& spec);

struct OpenedCertRep {
  PkiMessage message;
  std::vector<crypto::X509Ptr> certificates;  // SUCCESS with certificates
  std::string payload;  // SUCCESS: the decrypted degenerate SignedData
};

// Parses a CertRep, checks its signature, and for SUCCESS decrypts the
// envelope with the device `cert`/`key` and extracts the certificates (none
// for a GetCRL reply, whose CRL is in `payload`).
absl::StatusOr<OpenedCertRep> OpenCertRep(absl::string_view der, X509* cert,
                                          EVP_PKEY* key);

}  // namespace scep::codec

#endif  // SCEP_COMMON_CODEC_CLIENT_H_
