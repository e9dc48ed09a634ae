#ifndef SCEP_SERVICES_SIGNER_ISSUANCE_AUDIT_H_
#define SCEP_SERVICES_SIGNER_ISSUANCE_AUDIT_H_

#include <openssl/x509.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scep::signer {

// Who asked the CA to sign, for the audit trail.
struct IssuanceContext {
  absl::string_view ca;              // "default" or the issuing CA's name
  absl::string_view caller;          // mTLS client CN, else the peer address
  absl::string_view transaction_id;  // the SCEP transactionID; "" if none
  absl::string_view profile;         // the gateway profile asking; "" if not said
};

// The signer's issuance audit trail (README "Issuance audit log"): one JSON
// line per certificate the CA key signed and per issuance the policy
// refused, whatever --log_level says. Lines are written whole and handed
// to the kernel before the certificate leaves the signer; in a file, a line
// the file refuses part-way (disk full) is cut off again, so the file holds
// whole lines only. Thread-safe.
class IssuanceAudit {
 public:
  // Lines to `out` (not owned, e.g. std::cerr).
  explicit IssuanceAudit(std::ostream* out, std::function<absl::Time()> clock = absl::Now);
  ~IssuanceAudit();
  IssuanceAudit(const IssuanceAudit&) = delete;
  IssuanceAudit& operator=(const IssuanceAudit&) = delete;
  // Lines appended to the file at `path` (created 0640 when missing).
  // FailedPrecondition when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<IssuanceAudit>> OpenFile(const std::string& path);

  // `certificate_issued`: serial, subject, SANs, validity, key usage and
  // EKU (the names profiles use), the SHA-256 of the SubjectPublicKeyInfo,
  // the signature algorithm, and the context; with
  // include_certificates(), the certificate itself (base64 DER, so
  // `scepctl certs restore` can rebuild a lost certificate index from the
  // trail). false when the line could not be written.
  bool Issued(const IssuanceContext& context, X509* certificate);
  // Whether certificate_issued lines carry the certificate (scep-signer
  // --audit_certificates). Set before the first line is written.
  void set_include_certificates(bool include) { include_certificates_ = include; }
  // `issuance_refused`: the policy rule and its message, and the context.
  bool Refused(const IssuanceContext& context, absl::string_view rule,
               absl::string_view message);

  // `issuance_rate_limited`: the caller's first refused request in a
  // minute, with `reason`.
  bool RateLimited(const IssuanceContext& context, absl::string_view reason);

  // Opens the file again (after log rotation moved it: scep-signer does
  // this on SIGHUP); later lines go to the new file. A no-op for a stream.
  // FailedPrecondition when it cannot be opened; the old file stays in use.
  absl::Status Reopen();

  // Lines that could not be written since start.
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }

 private:
  bool Write(std::string line);

  std::string path_;  // "" for a stream
  int fd_ = -1;        // the file, appended to (O_APPEND); guarded by mu_
  std::ostream* out_;  // without a file; guarded by mu_
  const std::function<absl::Time()> clock_;
  std::mutex mu_;
  std::atomic<uint64_t> write_errors_{0};
  bool include_certificates_ = false;
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUANCE_AUDIT_H_
