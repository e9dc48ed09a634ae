#ifndef SCEP_SERVICES_GATEWAY_IN_PROCESS_SIGNER_H_
#define SCEP_SERVICES_GATEWAY_IN_PROCESS_SIGNER_H_

// Test support: a SignerClient over an in-process SignerCore with software
// keys, with switches that make it unavailable. Unit tests only.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "services/gateway/signer_client.h"
#include "services/signer/signer_core.h"

namespace scep::gateway::testing {

// Path of a file in tests/testdata and its contents.
std::string Testdata(const std::string& name);
std::string ReadTestdata(const std::string& name);

class InProcessSigner final : public SignerClient {
 public:
  // The fixture CA and RA of tests/testdata; `next_ca` (a testdata PEM
  // file) enables GetNextCACert.
  explicit InProcessSigner(const std::string& next_ca = "");
  // After a CA rollover: the fixture CA replaced `previous_ca`, whose key
  // `previous_key` signs its CRLs and OCSP answers (null: its key was not
  // found).
  InProcessSigner(X509* previous_ca, EVP_PKEY* previous_key);

  absl::StatusOr<CaCertificatesDer> GetCertificates() override;
  absl::StatusOr<std::string> Decrypt(absl::string_view env) override;
  absl::StatusOr<std::string> Issue(const IssueRequest& request) override;
  absl::StatusOr<std::string> SignCertRep(absl::string_view content,
                                          const codec::ScepAttributes& attrs,
                                          absl::string_view digest) override;
  absl::StatusOr<std::string> SignCrl(const CrlRequest& request) override;
  absl::StatusOr<std::string> SignOcsp(const OcspSignRequest& request) override;

  std::atomic<bool> down{false};        // every call Unavailable
  std::atomic<bool> issue_down{false};  // Issue only
  std::atomic<int> issued{0};           // certificates issued
  std::atomic<int> crls_signed{0};
  std::atomic<int> ocsp_signed{0};
  // Signs with the current CA whichever CA is asked for, as a signer
  // before SignCrlRequest.ca_certificate_sha256 does.
  std::atomic<bool> ignores_ca_selector{false};
  // Test hook: run at the start of every Issue (set before the calls).
  std::function<void()> before_issue;

 private:
  std::unique_ptr<signer::SignerCore> core_;
};

}  // namespace scep::gateway::testing

#endif  // SCEP_SERVICES_GATEWAY_IN_PROCESS_SIGNER_H_
