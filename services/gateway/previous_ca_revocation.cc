#include "services/gateway/previous_ca_revocation.h"

#include <openssl/ocsp.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_error.h"

namespace scep::gateway {
namespace {

using OcspResponsePtr = crypto::SslPtr<OCSP_RESPONSE, OCSP_RESPONSE_free>;
using OcspBasicPtr = crypto::SslPtr<OCSP_BASICRESP, OCSP_BASICRESP_free>;

absl::Status SignedByAnotherKey(absl::string_view what) {
  crypto::DrainSslErrors();
  return absl::FailedPreconditionError(absl::StrCat(
      "the signer signed the previous CA's ", what,
      " with another key: a signer before this gateway signs for the current CA only; "
      "upgrade the signer"));
}

absl::Status NotForPreviousCa() {
  return absl::FailedPreconditionError("a previous CA signs CRLs and OCSP answers only");
}

// CertificateIndex forwarding to `base` but for the cached CRL.
class SeparateCrlIndex final : public redis::CertificateIndex {
 public:
  explicit SeparateCrlIndex(redis::CertificateIndex* base) : base_(base) {}

  absl::Status Put(absl::string_view serial_hex, const redis::CertificateRecord& record,
                   absl::Duration ttl) override {
    return base_->Put(serial_hex, record, ttl);
  }
  absl::StatusOr<std::optional<redis::CertificateRecord>> Get(
      absl::string_view serial_hex) override {
    return base_->Get(serial_hex);
  }
  absl::StatusOr<redis::RevokeResult> Revoke(absl::string_view serial_hex, int reason,
                                             absl::Time when) override {
    return base_->Revoke(serial_hex, reason, when);
  }
  absl::StatusOr<std::vector<redis::RevokedSerial>> ListRevoked() override {
    return base_->ListRevoked();
  }
  absl::StatusOr<std::optional<redis::RevokedSerial>> GetRevoked(
      absl::string_view serial_hex) override {
    return base_->GetRevoked(serial_hex);
  }
  absl::Status ForgetRevoked(const std::vector<std::string>& serials) override {
    return base_->ForgetRevoked(serials);
  }
  absl::StatusOr<int64_t> RevocationGeneration() override {
    return base_->RevocationGeneration();
  }
  absl::StatusOr<redis::CrlState> GetCrlState() override {
    absl::StatusOr<int64_t> generation = base_->RevocationGeneration();
    if (!generation.ok()) return generation.status();
    std::lock_guard<std::mutex> lock(mu_);
    return redis::CrlState{*generation, crl_.has_value() ? crl_->number : 0};
  }
  absl::StatusOr<int64_t> RestoreRevoked(const std::vector<redis::RevokedSerial>& entries,
                                         uint64_t crl_number) override {
    return base_->RestoreRevoked(entries, crl_number);
  }
  absl::StatusOr<uint64_t> NextCrlNumber() override {
    absl::StatusOr<uint64_t> next = base_->NextCrlNumber();
    if (!next.ok()) return next;
    std::lock_guard<std::mutex> lock(mu_);
    return crl_.has_value() ? std::max(*next, crl_->number + 1) : *next;
  }
  absl::StatusOr<redis::CertificatePage> List(absl::string_view profile,
                                              std::optional<bool> revoked,
                                              absl::string_view page_token,
                                              int page_size) override {
    return base_->List(profile, revoked, page_token, page_size);
  }
  absl::StatusOr<std::optional<redis::CachedCrl>> GetCachedCrl() override {
    std::lock_guard<std::mutex> lock(mu_);
    return crl_;
  }
  absl::StatusOr<bool> PutCachedCrl(const redis::CachedCrl& crl) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (crl_.has_value() && crl_->number >= crl.number) return false;
    crl_ = crl;
    return true;
  }

 private:
  redis::CertificateIndex* const base_;
  std::mutex mu_;
  std::optional<redis::CachedCrl> crl_;
};

}  // namespace

PreviousCaSigner::PreviousCaSigner(SignerClient* inner, crypto::X509Ptr ca)
    : inner_(inner), ca_(std::move(ca)), sha256_(crypto::CertificateSha256(ca_.get())) {}

absl::StatusOr<CaCertificatesDer> PreviousCaSigner::GetCertificates() {
  return NotForPreviousCa();
}
absl::StatusOr<std::string> PreviousCaSigner::Decrypt(absl::string_view) {
  return NotForPreviousCa();
}
absl::StatusOr<std::string> PreviousCaSigner::Issue(const IssueRequest&) {
  return NotForPreviousCa();
}
absl::StatusOr<std::string> PreviousCaSigner::SignCertRep(absl::string_view,
                                                          const codec::ScepAttributes&,
                                                          absl::string_view) {
  return NotForPreviousCa();
}

absl::StatusOr<std::string> PreviousCaSigner::SignCrl(const CrlRequest& request) {
  CrlRequest ours = request;
  ours.ca_certificate_sha256 = sha256_;
  absl::StatusOr<std::string> der = inner_->SignCrl(ours);
  if (!der.ok()) return der;
  absl::StatusOr<crypto::X509CrlPtr> crl =
      crypto::FromDer<crypto::X509CrlPtr>(*der, d2i_X509_CRL, "the signer's CRL");
  if (!crl.ok()) return crl.status();
  if (X509_CRL_verify(crl->get(), X509_get0_pubkey(ca_.get())) != 1) {
    return SignedByAnotherKey("CRL");
  }
  return der;
}

absl::StatusOr<std::string> PreviousCaSigner::SignOcsp(const OcspSignRequest& request) {
  OcspSignRequest ours = request;
  ours.ca_certificate_sha256 = sha256_;
  absl::StatusOr<std::string> der = inner_->SignOcsp(ours);
  if (!der.ok()) return der;
  absl::StatusOr<OcspResponsePtr> response =
      crypto::FromDer<OcspResponsePtr>(*der, d2i_OCSP_RESPONSE, "the signer's OCSP answer");
  if (!response.ok()) return response.status();
  OcspBasicPtr basic(OCSP_response_get1_basic(response->get()));
  crypto::X509StackPtr certs(sk_X509_new_null());
  if (basic == nullptr || certs == nullptr ||
      sk_X509_push(certs.get(), X509_dup(ca_.get())) == 0) {
    return SignedByAnotherKey("OCSP answer");
  }
  // The responder must be this CA (by its key), and its key must have
  // signed: no chain to check, the CA certificate is ours.
  if (OCSP_basic_verify(basic.get(), certs.get(), nullptr,
                        OCSP_NOINTERN | OCSP_NOVERIFY | OCSP_NOCHAIN) != 1) {
    return SignedByAnotherKey("OCSP answer");
  }
  return der;
}

std::unique_ptr<redis::CertificateIndex> NewSeparateCrlIndex(redis::CertificateIndex* base) {
  return std::make_unique<SeparateCrlIndex>(base);
}

PreviousCaRevocation::PreviousCaRevocation(IndexFactory index_for, absl::Duration crl_validity)
    : index_for_(std::move(index_for)), crl_validity_(crl_validity) {}

PreviousCaRevocation::Entry& PreviousCaRevocation::EntryFor(const std::string& name,
                                                            SignerClient* signer,
                                                            X509* previous) {
  const std::string key = absl::StrCat(
      name, "/", absl::BytesToHexString(crypto::CertificateSha256(previous)));
  std::unique_ptr<Entry>& entry = entries_[key];
  if (entry == nullptr) {
    entry = std::make_unique<Entry>();
    entry->signer = std::make_unique<PreviousCaSigner>(
        signer, crypto::X509Ptr(X509_dup(previous)));
  }
  return *entry;
}

SignerClient* PreviousCaRevocation::SignerFor(const std::string& name, SignerClient* signer,
                                              X509* previous) {
  std::lock_guard<std::mutex> lock(mu_);
  return EntryFor(name, signer, previous).signer.get();
}

absl::StatusOr<std::shared_ptr<const std::string>> PreviousCaRevocation::Crl(
    const std::string& name, SignerClient* signer, redis::CertificateIndex* index,
    X509* previous) {
  CrlCache* crl = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = EntryFor(name, signer, previous);
    if (entry.crl == nullptr) {
      std::unique_ptr<redis::CertificateIndex> view;
      if (index_for_ != nullptr) {
        absl::StatusOr<std::unique_ptr<redis::CertificateIndex>> made =
            index_for_(name, crypto::CaKeyId(previous), index);
        if (!made.ok()) return made.status();
        view = *std::move(made);
      } else {
        view = NewSeparateCrlIndex(index);
      }
      entry.index = std::move(view);
      entry.crl = std::make_unique<CrlCache>(entry.signer.get(), entry.index.get(),
                                             crl_validity_);
    }
    crl = entry.crl.get();
  }
  return crl->Get();
}

}  // namespace scep::gateway
