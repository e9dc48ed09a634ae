#include "services/signer/signer_core.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/oaep_envelope.h"
#include "common/codec/pki_message.h"
#include "common/crypto/ca_chain.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"
#include "services/signer/issuer.h"
#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

absl::Status CheckPair(X509* cert, KeyAccess& key, absl::string_view what) {
  ASSIGN_OR_RETURN(crypto::EvpPkeyPtr pub, key.PublicKey());
  if (EVP_PKEY_eq(X509_get0_pubkey(cert), pub.get()) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " certificate does not match its key"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignerCore>> SignerCore::New(
    SignerOptions options, std::unique_ptr<KeyAccess> ca_key,
    crypto::X509Ptr ca_cert, std::unique_ptr<KeyAccess> ra_key,
    crypto::X509Ptr ra_cert) {
  if (!ca_key || !ra_key || !ca_cert || !ra_cert) {
    return absl::InvalidArgumentError("keys and certificates are required");
  }
  RETURN_IF_ERROR(CheckPair(ca_cert.get(), *ca_key, "CA"));
  RETURN_IF_ERROR(CheckPair(ra_cert.get(), *ra_key, "RA"));
  if (EVP_PKEY_base_id(X509_get0_pubkey(ra_cert.get())) != EVP_PKEY_RSA) {
    return absl::FailedPreconditionError(
        "the RA key must be RSA: SCEP clients encrypt to it");
  }
  ASSIGN_OR_RETURN(std::string ca_der, crypto::ToDer(ca_cert.get(), i2d_X509));
  ASSIGN_OR_RETURN(std::string ra_der, crypto::ToDer(ra_cert.get(), i2d_X509));
  auto core = absl::WrapUnique(new SignerCore(
      std::move(options), std::move(ca_key), std::move(ca_cert),
      std::move(ra_key), std::move(ra_cert), std::move(ca_der),
      std::move(ra_der)));
  if (core->options_.next_ra_certificate != nullptr &&
      core->options_.next_ca_certificate == nullptr) {
    return absl::InvalidArgumentError("a next RA certificate needs the next CA certificate");
  }
  if (core->options_.next_ca_certificate != nullptr) {
    RETURN_IF_ERROR(core->PrepareNextCa());
  }
  if (!core->options_.ca_chain.empty()) {
    // Not strict: a chain this signer served with before stays served
    // (scep-provision --import-ca checks new ones strictly).
    RETURN_IF_ERROR(crypto::VerifyCaChain(core->ca_cert_.get(), core->options_.ca_chain,
                                          /*strict=*/false));
    for (const crypto::X509Ptr& cert : core->options_.ca_chain) {
      ASSIGN_OR_RETURN(std::string der, crypto::ToDer(cert.get(), i2d_X509));
      core->ca_chain_der_.push_back(std::move(der));
    }
  }
  for (const crypto::X509Ptr& cert : core->options_.previous_ca_certificates) {
    if (X509_check_ca(cert.get()) == 0) {
      return absl::InvalidArgumentError("a previous CA certificate is not a CA certificate");
    }
    ASSIGN_OR_RETURN(std::string der, crypto::ToDer(cert.get(), i2d_X509));
    if (der == core->ca_der_) {
      return absl::InvalidArgumentError(
          "a previous CA certificate is the current CA certificate");
    }
    core->previous_ca_der_.push_back(std::move(der));
  }
  core->ca_sha256_ = crypto::CertificateSha256(core->ca_cert_.get());
  return core;
}

absl::Status SignerCore::PrepareNextCa() {
  X509* next = options_.next_ca_certificate.get();
  X509* next_ra = options_.next_ra_certificate.get();
  ASSIGN_OR_RETURN(next_ca_der_, crypto::ToDer(next, i2d_X509));
  std::vector<X509*> published = {next};
  if (next_ra != nullptr) {
    EVP_PKEY* next_key = X509_get0_pubkey(next);
    if (X509_check_issued(next, next_ra) != X509_V_OK || next_key == nullptr ||
        X509_verify(next_ra, next_key) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          "the next RA certificate is not issued by the next CA certificate");
    }
    published.push_back(next_ra);
  }
  ASSIGN_OR_RETURN(std::string degenerate, codec::DegenerateCertificates(published));
  return ra_key_->WithKey([&](EVP_PKEY* key) -> absl::Status {
    crypto::BioPtr in(BIO_new_mem_buf(degenerate.data(),
                                      static_cast<int>(degenerate.size())));
    crypto::CmsPtr cms(CMS_sign(ra_cert_.get(), key, nullptr, in.get(),
                                CMS_BINARY | CMS_NOSMIMECAP));
    if (cms == nullptr) return crypto::SslInternal("signing GetNextCACert answer");
    ASSIGN_OR_RETURN(next_ca_message_, crypto::ToDer(cms.get(), i2d_CMS_ContentInfo));
    return absl::OkStatus();
  });
}

absl::StatusOr<SignerCore::CaKey> SignerCore::CaKeyFor(absl::string_view ca_sha256) {
  if (ca_sha256.empty() || ca_sha256 == ca_sha256_) return CaKey{ca_cert_.get(), ca_key_.get()};
  for (const crypto::X509Ptr& cert : options_.previous_ca_certificates) {
    if (crypto::CertificateSha256(cert.get()) != ca_sha256) continue;
    auto key = previous_ca_keys_.find(ca_sha256);
    if (key == previous_ca_keys_.end()) {
      return absl::FailedPreconditionError(
          "no key of this previous CA certificate was found in the token "
          "(log previous_ca_key_missing)");
    }
    return CaKey{cert.get(), key->second.get()};
  }
  return absl::NotFoundError("not a CA certificate of this issuing CA");
}

absl::Status SignerCore::AcceptPreviousCaKey(absl::string_view certificate_sha256,
                                             std::unique_ptr<KeyAccess> key) {
  if (key == nullptr) return absl::InvalidArgumentError("no previous CA key");
  for (const crypto::X509Ptr& cert : options_.previous_ca_certificates) {
    if (crypto::CertificateSha256(cert.get()) != certificate_sha256) continue;
    RETURN_IF_ERROR(CheckPair(cert.get(), *key, "previous CA"));
    previous_ca_keys_[std::string(certificate_sha256)] = std::move(key);
    return absl::OkStatus();
  }
  return absl::NotFoundError("not a previous CA certificate of this issuing CA");
}

absl::StatusOr<std::string> SignerCore::SignCrl(const CrlParams& params,
                                                absl::string_view digest,
                                                absl::string_view ca_sha256) {
  std::string digest_name(digest.empty() ? options_.default_digest : digest);
  if (digest_name != "sha256" && digest_name != "sha384" &&
      digest_name != "sha512") {
    return absl::InvalidArgumentError("CRL digest must be sha256, sha384 or sha512");
  }
  ASSIGN_OR_RETURN(CaKey ca, CaKeyFor(ca_sha256));
  ASSIGN_OR_RETURN(crypto::X509CrlPtr crl, BuildCrl(ca.cert, params));
  const EVP_MD* md = EVP_get_digestbyname(digest_name.c_str());
  RETURN_IF_ERROR(ca.key->WithKey([&](EVP_PKEY* key) -> absl::Status {
    if (X509_CRL_sign(crl.get(), key, md) <= 0) {
      return crypto::SslInternal("signing CRL with the CA key");
    }
    return absl::OkStatus();
  }));
  return crypto::ToDer(crl.get(), i2d_X509_CRL);
}

absl::StatusOr<std::string> SignerCore::SignOcsp(const OcspParams& params,
                                                 absl::string_view ca_sha256) {
  ASSIGN_OR_RETURN(CaKey ca, CaKeyFor(ca_sha256));
  ASSIGN_OR_RETURN(OcspBasicPtr basic, BuildOcspResponse(ca.cert, params));
  absl::StatusOr<std::string> der;
  RETURN_IF_ERROR(ca.key->WithKey([&](EVP_PKEY* key) {
    der = SignOcspResponse(basic.get(), ca.cert, key);
    return der.status();
  }));
  return der;
}

SignerCore::SignerCore(SignerOptions options, std::unique_ptr<KeyAccess> ca_key,
                       crypto::X509Ptr ca_cert,
                       std::unique_ptr<KeyAccess> ra_key,
                       crypto::X509Ptr ra_cert, std::string ca_der,
                       std::string ra_der)
    : options_(std::move(options)),
      ca_key_(std::move(ca_key)),
      ca_cert_(std::move(ca_cert)),
      ra_key_(std::move(ra_key)),
      ra_cert_(std::move(ra_cert)),
      ca_der_(std::move(ca_der)),
      ra_der_(std::move(ra_der)) {}

absl::Status SignerCore::AcceptPreviousRa(crypto::X509Ptr cert,
                                          std::unique_ptr<KeyAccess> key) {
  if (cert == nullptr) return absl::InvalidArgumentError("no previous RA certificate");
  RETURN_IF_ERROR(CheckPair(cert.get(), key != nullptr ? *key : *ra_key_, "previous RA"));
  if (EVP_PKEY_base_id(X509_get0_pubkey(cert.get())) != EVP_PKEY_RSA) {
    return absl::FailedPreconditionError("the previous RA key is not RSA");
  }
  previous_ra_cert_ = std::move(cert);
  previous_ra_key_ = std::move(key);
  return absl::OkStatus();
}

absl::StatusOr<std::string> SignerCore::Decrypt(
    absl::string_view enveloped_data, bool* for_previous) {
  X509* cert = ra_cert_.get();
  KeyAccess* ra_key = ra_key_.get();
  // Only while a previous RA certificate is accepted: which one the device
  // encrypted to (a DER parse, no key operation).
  if (previous_ra_cert_ != nullptr &&
      codec::IsRecipient(enveloped_data, previous_ra_cert_.get()).value_or(false)) {
    cert = previous_ra_cert_.get();
    if (previous_ra_key_ != nullptr) ra_key = previous_ra_key_.get();
  }
  if (for_previous != nullptr) *for_previous = cert != ra_cert_.get();
  // RSAES-OAEP to a token key: the token unwraps the content-encryption
  // key with CKM_RSA_PKCS_OAEP (KeyAccess::DecryptOaep) and the content is
  // decrypted here, since libp11's EVP_PKEY would have the token run raw
  // RSA, which FIPS partitions and CKA_ALLOWED_MECHANISMS refuse. Only
  // when the token refuses OAEP with the request's parameters (SoftHSMv2
  // knows only SHA-1) is raw RSA tried, and counted as what it is.
  const char* oaep_fallback = nullptr;
  if (codec::KeyTransportAlgorithm(enveloped_data).value_or(NID_undef) == NID_rsaesOaep) {
    absl::StatusOr<std::string> plaintext = codec::DecryptOaep(
        enveloped_data, cert,
        [&](const crypto::RsaOaepParams& params, absl::string_view encrypted_key) {
          return ra_key->DecryptOaep(params, encrypted_key);
        });
    if (absl::IsFailedPrecondition(plaintext.status())) {
      oaep_fallback = "rsa-x509";
    } else if (!absl::IsUnimplemented(plaintext.status())) {
      return plaintext;
    }
  }
  ScopedKeyMechanism mechanism(oaep_fallback != nullptr ? oaep_fallback
                                                        : ScopedKeyMechanism::Current());
  absl::StatusOr<std::string> plaintext;
  RETURN_IF_ERROR(ra_key->WithKey([&](EVP_PKEY* key) {
    plaintext = codec::Decrypt(enveloped_data, cert, key);
    return plaintext.status();
  }));
  return plaintext;
}

absl::StatusOr<std::string> SignerCore::Issue(absl::string_view csr_der,
                                              int validity_days,
                                              absl::string_view digest) {
  Policy policy;
  policy.validity_days = validity_days;
  policy.digest = std::string(digest);
  return Issue(csr_der, policy);
}

absl::StatusOr<std::string> SignerCore::Issue(absl::string_view csr_der,
                                              const Policy& policy) {
  ASSIGN_OR_RETURN(crypto::X509Ptr cert, IssueX509(csr_der, policy));
  return crypto::ToDer(cert.get(), i2d_X509);
}

absl::StatusOr<crypto::X509Ptr> SignerCore::IssueX509(absl::string_view csr_der,
                                                      const Policy& policy,
                                                      X509* key_from) {
  const int validity_days = policy.validity_days;
  std::string digest_name(policy.digest.empty() ? options_.default_digest
                                                : policy.digest);
  if (digest_name != "sha256" && digest_name != "sha384" &&
      digest_name != "sha512") {
    return absl::InvalidArgumentError(
        "certificate signature digest must be sha256, sha384 or sha512");
  }
  const EVP_MD* md = EVP_get_digestbyname(digest_name.c_str());
  ASSIGN_OR_RETURN(codec::Csr csr, codec::ParseCsr(csr_der, key_from));
  IssueParams params;
  params.validity_days =
      validity_days == 0 ? options_.default_validity_days : validity_days;
  params.digest = md;
  params.now = options_.clock();
  crypto::X509NamePtr subject;
  if (!policy.subject.empty()) {
    ASSIGN_OR_RETURN(subject, crypto::FromDer<crypto::X509NamePtr>(
                                  policy.subject, d2i_X509_NAME, "subject"));
    params.subject = subject.get();
  }
  crypto::GeneralNamesPtr san;
  if (!policy.subject_alt_name.empty()) {
    ASSIGN_OR_RETURN(san, crypto::FromDer<crypto::GeneralNamesPtr>(
                              policy.subject_alt_name, d2i_GENERAL_NAMES,
                              "subjectAltName"));
    params.subject_alt_name = san.get();
  }
  params.key_usage = policy.key_usage;
  params.extended_key_usage = policy.extended_key_usage;
  // A profile's "{key}" names the issuing CA key, so that certificates
  // point at their own CA's CRL and certificate across CA rollovers.
  const std::string key_id = crypto::CaKeyId(ca_cert_.get());
  for (const std::string& uri : policy.crl_distribution_points) {
    params.crl_distribution_points.push_back(crypto::ExpandKeyPlaceholder(uri, key_id));
  }
  for (const std::string& uri : policy.ca_issuers) {
    params.ca_issuers.push_back(crypto::ExpandKeyPlaceholder(uri, key_id));
  }
  params.ocsp_urls = policy.ocsp_urls;
  ASSIGN_OR_RETURN(crypto::X509Ptr cert,
                   BuildCertificate(csr.request.get(), csr.public_key.get(),
                                    ca_cert_.get(), params));
  if (std::optional<PolicyRefusal> refusal =
          CheckIssuance(options_.issuance_policy, cert.get(), csr.public_key.get(),
                        digest_name, params.now)) {
    return PolicyRefusalStatus(*refusal);
  }
  RETURN_IF_ERROR(ca_key_->WithKey([&](EVP_PKEY* key) {
    return SignCertificate(cert.get(), key, md);
  }));
  return cert;
}

absl::StatusOr<std::string> SignerCore::SignCertRep(
    absl::string_view content, codec::ScepAttributes attributes,
    absl::string_view digest) {
  // The RA signs replies only: a gateway cannot make it sign a request.
  attributes.message_type = codec::MessageType::kCertRep;
  if (!attributes.pki_status.has_value()) {
    return absl::InvalidArgumentError("CertRep needs a pkiStatus");
  }
  absl::StatusOr<std::string> der;
  RETURN_IF_ERROR(ra_key_->WithKey([&](EVP_PKEY* key) {
    der = codec::SignPkiMessage(content, attributes, ra_cert_.get(), key, digest);
    return der.status();
  }));
  return der;
}

absl::StatusOr<std::string> SignerCore::CertRepDelivering(
    X509* certificate, X509* recipient, absl::string_view cipher,
    codec::ScepAttributes attributes, absl::string_view digest) {
  if (attributes.pki_status != codec::PkiStatus::kSuccess) {
    return absl::InvalidArgumentError("a certificate is delivered with SUCCESS only");
  }
  ASSIGN_OR_RETURN(std::string degenerate, codec::DegenerateCertificates({certificate}));
  ASSIGN_OR_RETURN(std::string envelope, codec::Envelope(degenerate, recipient, cipher));
  return SignCertRep(envelope, std::move(attributes), digest);
}

}  // namespace scep::signer
