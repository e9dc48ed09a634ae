#include "services/gateway/ca_certificates.h"

#include "common/base/status_macros.h"
#include "common/codec/envelope.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"

namespace scep::gateway {

absl::Status CaCertificates::Refresh(SignerClient& signer) {
  ASSIGN_OR_RETURN(CaCertificatesDer der, signer.GetCertificates());
  auto set = std::make_shared<CaSet>();
  ASSIGN_OR_RETURN(set->ca, crypto::FromDer<crypto::X509Ptr>(
                                der.ca, d2i_X509, "CA certificate"));
  ASSIGN_OR_RETURN(set->ra, crypto::FromDer<crypto::X509Ptr>(
                                der.ra, d2i_X509, "RA certificate"));
  ASSIGN_OR_RETURN(set->get_ca_cert_body,
                   codec::DegenerateCertificates({set->ca.get(), set->ra.get()}));
  set->ca_fingerprint = crypto::Sha256Fingerprint(set->ca.get());
  if (!der.next_ca.empty()) {
    ASSIGN_OR_RETURN(set->next_ca, crypto::FromDer<crypto::X509Ptr>(
                                       der.next_ca, d2i_X509, "next CA certificate"));
    set->next_ca_message = std::move(der.next_ca_message);
  }
  Set(std::move(set));
  return absl::OkStatus();
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

}  // namespace scep::gateway
