#ifndef SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_
#define SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/ssl_ptr.h"
#include "common/metrics/json_log.h"
#include "services/gateway/profile.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

// The CA and RA certificates as published by the signer, parsed once.
struct CaSet {
  crypto::X509Ptr ca;
  std::string ca_der;  // as the signer sent it
  crypto::X509Ptr ra;
  std::string get_ca_cert_body;  // degenerate SignedData: CA, RA, chain
  // A CA under another root: the certificates above it up to the root.
  std::vector<crypto::X509Ptr> chain;
  std::string ca_fingerprint;    // SHA-256, colon hex
  // CA rollover (RFC 8894 section 4.7); null / empty when not configured.
  crypto::X509Ptr next_ca;
  std::string next_ca_message;   // the signed GetNextCACert answer
  // What the signer's issuance policy fixes for this CA.
  IssuanceBounds bounds;
  // After a CA rollover: the CA certificates this CA replaced.
  std::vector<crypto::X509Ptr> previous_cas;
};

// Whether `cert` was issued by the set's CA or, after a CA rollover, by a
// CA it replaced: its issuer named and its signature verified by that key.
bool IssuedByThisCa(const CaSet& ca, X509* cert);

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

// Keeps `certs` loaded from `signer` on a thread of its own: retries every
// second until the signer answers (the gateway may start first), then
// refreshes every `refresh` (gateway --ca_refresh_seconds). Logs the first
// load, a change of the CA or RA certificate (after a renewal or rollover),
// and a refusal (e.g. a CA name the signer does not know) once per distinct
// error. `name` is the issuing CA, "" for the default one. On the first
// load and whenever the signer's issuance bounds change, logs each way in
// which one of `profiles` (those issuing from this CA) exceeds them
// (`profile_outside_issuance_policy`, a warning: such a profile's requests
// would all be refused). Arguments must outlive the loader.
class CertificateLoader {
 public:
  CertificateLoader(CaCertificates* certs, SignerClient* signer,
                    metrics::JsonLogger* log, std::string name = "",
                    absl::Duration refresh = absl::Minutes(5),
                    std::vector<Profile> profiles = {});
  ~CertificateLoader();
  CertificateLoader(const CertificateLoader&) = delete;
  CertificateLoader& operator=(const CertificateLoader&) = delete;

 private:
  void Run(CaCertificates* certs, SignerClient* signer);
  void CheckProfiles(const IssuanceBounds& bounds);

  metrics::JsonLogger* const log_;
  const std::string name_;
  const absl::Duration refresh_;
  const std::vector<Profile> profiles_;
  std::string last_error_;  // only the loader thread touches it
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_CA_CERTIFICATES_H_
