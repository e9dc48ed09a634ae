#ifndef SCEP_COMMON_CRYPTO_SSL_PTR_H_
#define SCEP_COMMON_CRYPTO_SSL_PTR_H_

// The one place that ties OpenSSL object types to their deleters. Business
// code holds every OpenSSL object in one of these, never a raw owning pointer.

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace scep::crypto {

template <typename T, void (*F)(T*)>
struct SslDeleter {
  void operator()(T* p) const { F(p); }
};

template <typename T, void (*F)(T*)>
using SslPtr = std::unique_ptr<T, SslDeleter<T, F>>;

inline void FreeX509Stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
inline void FreeExtStack(STACK_OF(X509_EXTENSION) * s) {
  sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
inline void FreeGeneralNames(GENERAL_NAMES* g) { GENERAL_NAMES_free(g); }
inline void FreeOpenSslString(char* s) { OPENSSL_free(s); }
inline void FreeBio(BIO* b) { BIO_free_all(b); }

using X509Ptr = SslPtr<X509, X509_free>;
using X509ReqPtr = SslPtr<X509_REQ, X509_REQ_free>;
using X509CrlPtr = SslPtr<X509_CRL, X509_CRL_free>;
using X509RevokedPtr = SslPtr<X509_REVOKED, X509_REVOKED_free>;
using X509NamePtr = SslPtr<X509_NAME, X509_NAME_free>;
using X509ExtPtr = SslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509StackPtr = SslPtr<STACK_OF(X509), FreeX509Stack>;
using ExtStackPtr = SslPtr<STACK_OF(X509_EXTENSION), FreeExtStack>;
using GeneralNamesPtr = SslPtr<GENERAL_NAMES, FreeGeneralNames>;
using X509StorePtr = SslPtr<X509_STORE, X509_STORE_free>;
using EvpPkeyPtr = SslPtr<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = SslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = SslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using CmsPtr = SslPtr<CMS_ContentInfo, CMS_ContentInfo_free>;
using X509AlgorPtr = SslPtr<X509_ALGOR, X509_ALGOR_free>;
using RsaOaepParamsPtr = SslPtr<RSA_OAEP_PARAMS, RSA_OAEP_PARAMS_free>;
using BioPtr = SslPtr<BIO, FreeBio>;
using BignumPtr = SslPtr<BIGNUM, BN_free>;
using Asn1IntegerPtr = SslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1ObjectPtr = SslPtr<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1StringPtr = SslPtr<ASN1_STRING, ASN1_STRING_free>;
using Asn1TimePtr = SslPtr<ASN1_TIME, ASN1_TIME_free>;
using Asn1BitStringPtr = SslPtr<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using ExtendedKeyUsagePtr = SslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using CrlDistPointsPtr = SslPtr<CRL_DIST_POINTS, CRL_DIST_POINTS_free>;
using AuthorityInfoAccessPtr = SslPtr<AUTHORITY_INFO_ACCESS, AUTHORITY_INFO_ACCESS_free>;
using OpenSslStringPtr = SslPtr<char, FreeOpenSslString>;

}  // namespace scep::crypto

#endif  // SCEP_COMMON_CRYPTO_SSL_PTR_H_
