#ifndef SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_
#define SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ssl_ptr.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// The CA and RA certificates as published by the signer, parsed once.
struct CaSet {
  crypto::X509Ptr ca;
  crypto::X509Ptr ra;
  std::string get_ca_cert_body;  // degenerate SignedData with CA and RA
  std::string ca_fingerprint;    // SHA-256, colon hex
  // CA rollover (RFC 8894 section 4.7); null / empty when not configured.
  crypto::X509Ptr next_ca;
  std::string next_ca_message;   // the signed GetNextCACert answer
};

// Holds the current CaSet; empty until the signer has answered once.
// Thread-safe.
class CaCertificates {
 public:
  // Fetches the certificates from `signer` and replaces the current set.
  // Unavailable while the signer cannot be reached.
  absl::Status Refresh(SignerClient& signer);

  // The current set, or Unavailable before the first successful Refresh.
  absl::StatusOr<std::shared_ptr<const CaSet>> Get() const;

  // Installs a set directly (tests).
  void Set(std::shared_ptr<const CaSet> set);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const CaSet> current_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_
