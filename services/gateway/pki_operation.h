#ifndef SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_
#define SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/codec/pki_message.h"
#include "common/redis/enrollment_store.h"
#include "services/gateway/profile.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {

struct PkiOperationOptions {
  absl::Duration nonce_ttl = absl::Hours(24);
  absl::Duration pending_ttl = absl::Seconds(60);
  absl::Duration issued_ttl = absl::Hours(24 * 30);
  // How long a retransmission waits for a concurrent twin to finish.
  absl::Duration pending_wait = absl::Seconds(3);
};

// What PKIOperation answers: a CertRep (HTTP 200), or an HTTP error when
// the request cannot be parsed (400) or a dependency is down (503).
struct PkiOutcome {
  int http_status = 200;
  std::string body;     // CertRep DER for 200, text otherwise
  std::string summary;  // "SUCCESS", "FAILURE badRequest: why", ... for logs
  // Bounded values for metric labels and structured logs ("" when the
  // request never got that far).
  std::string message_type;    // "PKCSReq", "RenewalReq", ...
  std::string pki_status;      // "SUCCESS", "FAILURE", "PENDING"
  std::string fail_info;       // "badRequest", ... with FAILURE
  std::string transaction_id;  // for logs only, never a label
};

// The PKIOperation flow of RFC 8894 section 3.3 for PKCSReq: verify,
// replay-check, decrypt (signer), check CSR and challenge, claim the
// transaction, issue (signer), reply encrypted to the requester and signed
// by the RA (signer). Refusals are signed FAILUREs with a failInfo and
// failInfoText; nothing is left half-written when a dependency fails.
// Thread-safe; dependencies are not owned.
class PkiOperation {
 public:
  PkiOperation(PkiOperationOptions options, SignerClient* signer,
               redis::EnrollmentStore* store)
      : options_(options), signer_(signer), store_(store) {}

  PkiOutcome Handle(const Profile& profile, absl::string_view der);

 private:
  // One request in flight. Once its senderNonce is recorded, `nonce_profile`
  // is set so a 503 forgets the nonce again.
  struct Request {
    const codec::PkiMessage& msg;
    std::string digest;
    const Profile* nonce_profile = nullptr;
  };

  PkiOutcome HandlePkcsReq(const Profile& profile, Request& req);
  PkiOutcome Failure(const Request& req, codec::FailInfo fail_info,
                     absl::string_view text);
  PkiOutcome Pending(const Request& req);
  PkiOutcome Success(const Request& req, const std::string& cipher,
                     const std::string& cert_der);
  PkiOutcome Sign(const Request& req, const std::string& content,
                  codec::ScepAttributes attrs, std::string summary);
  PkiOutcome UnavailableAfterNonce(const Request& req, absl::string_view what);

  const PkiOperationOptions options_;
  SignerClient* const signer_;
  redis::EnrollmentStore* const store_;
};

// 503 outcome for an unavailable dependency.
PkiOutcome Unavailable(absl::string_view what);

// Constant-time comparison of a presented and a configured secret.
bool SecretEquals(absl::string_view presented, absl::string_view expected);

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PKI_OPERATION_H_
