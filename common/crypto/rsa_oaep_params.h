#ifndef SCEP_COMMON_CRYPTO_RSA_OAEP_PARAMS_H_
#define SCEP_COMMON_CRYPTO_RSA_OAEP_PARAMS_H_

#include <openssl/obj_mac.h>

#include <string>

namespace scep::crypto {

// RSAES-OAEP-params (RFC 8017 appendix A.2.1) as a key-transport
// RecipientInfo names them (RFC 4055 section 4.1), with the hashes as
// OpenSSL NIDs: what a token needs for CKM_RSA_PKCS_OAEP.
struct RsaOaepParams {
  int hash_nid = NID_sha1;       // hashFunc (default SHA-1)
  int mgf1_hash_nid = NID_sha1;  // maskGenFunc: MGF1 with this hash
  std::string label;             // pSourceFunc id-pSpecified (default empty)
};

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_RSA_OAEP_PARAMS_H_
