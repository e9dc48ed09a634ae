#ifndef SCEP_COMMON_CRYPTO_PUBLIC_KEYS_H_
#define SCEP_COMMON_CRYPTO_PUBLIC_KEYS_H_

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::crypto {

// Public keys without OpenSSL 3.0's per-parse decoder set-up.
//
// OpenSSL 3.0 decodes the SubjectPublicKeyInfo of every certificate and
// request it parses, and builds the decoder context for that from scratch
// each time: every decoder and key manager of every provider is enumerated
// under locks (about 80 us per parse on an idle core, about 180 us under
// load; openssl/openssl#15199, bench/README.md). The functions here parse
// with that opportunistic decode turned off and decode a key, only where one
// is used, through a decoder context each thread builds once and reuses
// (about 10 us per RSA key).

// A library context holding only OpenSSL's "null" provider (no algorithms):
// an X509_PUBKEY parsed in it skips the decode and keeps no EVP_PKEY, so
// X509_REQ_get0_pubkey and X509_get0_pubkey return nullptr for it. Created
// on first use and kept for the life of the process.
OSSL_LIB_CTX* KeylessContext();

// A DER PKCS#10 request parsed without decoding its public key (see
// above): InvalidArgument when malformed or followed by trailing bytes.
// Signature checks must pass a key explicitly (X509_REQ_verify(req, key))
// decoded with DecodePublicKey.
absl::StatusOr<X509ReqPtr> ParseRequestWithoutKey(absl::string_view der);

// A DER certificate whose RSA key is decoded without a decoder context:
// parsed without OpenSSL's key decode, then given its key through the
// legacy RSA decoder (d2i_PublicKey), about 20 us instead of about 110.
// The key is an OpenSSL legacy-type RSA key (EVP_PKEY_get0_provider() is
// null) that OpenSSL 3 exports to the default provider when it is used:
// PKCS#1 v1.5 and RSAES-OAEP key transport and signature checks are tested
// with it. Setting the key marks the certificate modified, so i2d
// re-encodes it; the result is kept only when that gives back `der`
// exactly. Any other certificate (EC, RSA-PSS, BER inside) takes
// d2i_X509's way. InvalidArgument when malformed or followed by trailing
// bytes.
absl::StatusOr<X509Ptr> ParseCertificate(absl::string_view der);

// The key of a DER SubjectPublicKeyInfo, through this thread's decoder
// context; InvalidArgument when OpenSSL cannot decode it.
absl::StatusOr<EvpPkeyPtr> DecodePublicKey(absl::string_view spki_der);

// The same for a parsed SubjectPublicKeyInfo.
absl::StatusOr<EvpPkeyPtr> DecodePublicKey(const X509_PUBKEY* spki);

// True when `a` and `b` hold the same key: equal algorithm identifiers
// (parameters included) and equal key bits. Compares the encodings only;
// decodes nothing.
bool SamePublicKey(const X509_PUBKEY* a, const X509_PUBKEY* b);

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_PUBLIC_KEYS_H_
