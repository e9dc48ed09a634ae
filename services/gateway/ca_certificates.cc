#include "services/gateway/ca_certificates.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/base/status_macros.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "services/gateway/profile_bounds.h"

namespace scep::gateway {

absl::Status CaCertificates::Refresh(SignerClient& signer) {
  ASSIGN_OR_RETURN(CaCertificatesDer der, signer.GetCertificates());
  auto set = std::make_shared<CaSet>();
  ASSIGN_OR_RETURN(set->ca, crypto::FromDer<crypto::X509Ptr>(
                                der.ca, d2i_X509, "CA certificate"));
  set->ca_der = der.ca;
  ASSIGN_OR_RETURN(set->ra, crypto::FromDer<crypto::X509Ptr>(
                                der.ra, d2i_X509, "RA certificate"));
  std::vector<X509*> published = {set->ca.get(), set->ra.get()};
  for (const std::string& cert : der.ca_chain) {
    ASSIGN_OR_RETURN(crypto::X509Ptr parsed,
                     crypto::FromDer<crypto::X509Ptr>(cert, d2i_X509, "CA chain certificate"));
    published.push_back(parsed.get());
    set->chain.push_back(std::move(parsed));
  }
  // RFC 8894 section 4.2.1.2: with an intermediate CA, the chain up to the
  // root goes with the CA and RA certificates.
  ASSIGN_OR_RETURN(set->get_ca_cert_body, codec::DegenerateCertificates(published));
  set->ca_fingerprint = crypto::Sha256Fingerprint(set->ca.get());
  set->bounds = std::move(der.bounds);
  if (!der.next_ca.empty()) {
    ASSIGN_OR_RETURN(set->next_ca, crypto::FromDer<crypto::X509Ptr>(
                                       der.next_ca, d2i_X509, "next CA certificate"));
    set->next_ca_message = std::move(der.next_ca_message);
  }
  for (const std::string& cert : der.previous_cas) {
    ASSIGN_OR_RETURN(crypto::X509Ptr parsed, crypto::FromDer<crypto::X509Ptr>(
                                                 cert, d2i_X509, "previous CA certificate"));
    set->previous_cas.push_back(std::move(parsed));
  }
  Set(std::move(set));
  return absl::OkStatus();
}

bool IssuedByThisCa(const CaSet& ca, X509* cert) {
  auto issued_by = [cert](X509* issuer) {
    const bool issued = X509_check_issued(issuer, cert) == X509_V_OK &&
                        X509_verify(cert, X509_get0_pubkey(issuer)) == 1;
    ERR_clear_error();
    return issued;
  };
  if (issued_by(ca.ca.get())) return true;
  return std::any_of(ca.previous_cas.begin(), ca.previous_cas.end(),
                     [&](const crypto::X509Ptr& previous) { return issued_by(previous.get()); });
}

absl::StatusOr<std::shared_ptr<const CaSet>> CaCertificates::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ == nullptr) {
    return absl::UnavailableError("CA certificates not yet loaded from signer");
  }
  return current_;
}

void CaCertificates::Set(std::shared_ptr<const CaSet> set) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(set);
}

CertificateLoader::CertificateLoader(CaCertificates* certs, SignerClient* signer,
                                     metrics::JsonLogger* log, std::string name,
                                     absl::Duration refresh, std::vector<Profile> profiles)
    : log_(log),
      name_(name.empty() ? "(default)" : std::move(name)),
      refresh_(std::max(refresh, absl::Seconds(1))),
      profiles_(std::move(profiles)),
      thread_([this, certs, signer] { Run(certs, signer); }) {}

CertificateLoader::~CertificateLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CertificateLoader::CheckProfiles(const IssuanceBounds& bounds) {
  for (const Profile& profile : profiles_) {
    for (const std::string& problem : ProfileOutsideBounds(profile, bounds)) {
      log_->Log(metrics::LogRecord(metrics::LogLevel::kWarning, "profile_outside_issuance_policy")
                    .Str("profile", profile.name)
                    .Str("issuing_ca", name_)
                    .Str("problem", problem)
                    .Str("note", "the signer refuses this profile's certificates"));
    }
  }
}

void CertificateLoader::Run(CaCertificates* certs, SignerClient* signer) {
  using metrics::LogLevel;
  using metrics::LogRecord;
  bool loaded = false;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    absl::StatusOr<std::shared_ptr<const CaSet>> before = certs->Get();
    absl::Status s = certs->Refresh(*signer);
    lock.lock();
    if (s.ok() && !loaded) {
      log_->Log(LogRecord(LogLevel::kInfo, "ca_certificates_loaded")
                    .Str("issuing_ca", name_)
                    .Str("ca_sha256", (*certs->Get())->ca_fingerprint)
                    .Int("previous_cas",
                         static_cast<int64_t>((*certs->Get())->previous_cas.size())));
      CheckProfiles((*certs->Get())->bounds);
    } else if (s.ok() && before.ok()) {
      absl::StatusOr<std::shared_ptr<const CaSet>> after = certs->Get();
      if (after.ok() && !((*before)->bounds == (*after)->bounds)) {
        CheckProfiles((*after)->bounds);
      }
      if (after.ok() && ((*before)->get_ca_cert_body != (*after)->get_ca_cert_body ||
                         (*before)->previous_cas.size() != (*after)->previous_cas.size())) {
        log_->Log(LogRecord(LogLevel::kInfo, "ca_certificates_changed")
                      .Str("issuing_ca", name_)
                      .Str("ca_sha256", (*after)->ca_fingerprint)
                      .Str("ra_serial", codec::SerialHex(X509_get0_serialNumber(
                                            (*after)->ra.get())))
                      .Int("ca_chain", static_cast<int64_t>((*after)->chain.size()))
                      .Int("previous_cas", static_cast<int64_t>((*after)->previous_cas.size())));
      }
    }
    if (!s.ok() && !absl::IsUnavailable(s) && s.ToString() != last_error_) {
      last_error_ = s.ToString();
      log_->Log(LogRecord(LogLevel::kError, "ca_certificates_refused")
                    .Str("issuing_ca", name_)
                    .Str("code", absl::StatusCodeToString(s.code()))
                    .Str("error", s.message()));
    }
    loaded = loaded || s.ok();
    cv_.wait_for(lock, loaded ? absl::ToChronoSeconds(refresh_) : std::chrono::seconds(1),
                 [this] { return stop_; });
  }
}

}  // namespace scep::gateway
