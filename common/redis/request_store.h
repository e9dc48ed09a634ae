#ifndef SCEP_COMMON_REDIS_REQUEST_STORE_H_
#define SCEP_COMMON_REDIS_REQUEST_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::redis {

// A certificate request held for manual approval (issue 4): REQUESTED until
// an operator approves (then ISSUED once the certificate exists) or rejects
// it. Keyed by profile and transactionID, like the enrollment transaction.
struct ApprovalRequest {
  enum class Status { kRequested, kApproved, kRejected, kIssued };
  std::string profile;
  std::string transaction_id;
  std::string subject;      // RFC 2253 text of the CSR subject (display)
  std::string csr;          // DER PKCS#10, signature already verified
  std::string fingerprint;  // the enrollment transaction's fingerprint
  Status status = Status::kRequested;
  std::string serial_hex;   // when issued
  std::string actor;        // who approved or rejected (audit)
  absl::Time created = absl::InfinitePast();
  absl::Time updated = absl::InfinitePast();
};

absl::string_view StatusName(ApprovalRequest::Status status);  // "REQUESTED", ...
std::optional<ApprovalRequest::Status> ParseStatus(absl::string_view name);

struct RequestPage {
  std::vector<ApprovalRequest> requests;
  std::string next_page_token;  // "" on the last page
};

// Requests awaiting approval. Thread-safe; Unavailable when the store
// cannot be reached; InvalidArgument for bad profile/transaction IDs.
class RequestStore {
 public:
  virtual ~RequestStore() = default;

  // Records a new REQUESTED request kept for `ttl`. AlreadyExists when the
  // profile already has one with this transactionID.
  virtual absl::Status Create(const ApprovalRequest& request,
                              absl::Duration ttl) = 0;

  virtual absl::StatusOr<std::optional<ApprovalRequest>> Get(
      absl::string_view profile, absl::string_view transaction_id) = 0;

  // Moves a request from `from` to `to` atomically, recording `actor` and,
  // for ISSUED, `serial_hex`. NotFound when unknown; FailedPrecondition when
  // its status is not `from` (e.g. approving a rejected request).
  virtual absl::Status Transition(absl::string_view profile,
                                  absl::string_view transaction_id,
                                  ApprovalRequest::Status from,
                                  ApprovalRequest::Status to,
                                  absl::string_view actor,
                                  absl::string_view serial_hex) = 0;

  // Requests of `profile` ("" = all profiles) with `status` (nullopt = any),
  // oldest first, at most `page_size` (1..1000) per page.
  virtual absl::StatusOr<RequestPage> List(
      absl::string_view profile,
      std::optional<ApprovalRequest::Status> status,
      absl::string_view page_token, int page_size) = 0;
};

// One-time challenges (issue 4): minted by the admin API, bound to a profile
// and optionally to a subject, good for one transaction.
//
// The first request to present a challenge claims it for its transaction
// (Claim: the transactionID and request fingerprint, EnrollmentStore's).
// The same transaction passes it again as often as it asks (the device's
// retry after a 503 or a crash, a twin a proxy sent, a refusal it can wait
// out) until it is done and spends it (Spend), or the challenge expires;
// any other request is refused from the first claim on. A refusal never
// depends on which gateway pod is asked: claims are atomic in the store.
class ChallengeStore {
 public:
  virtual ~ChallengeStore() = default;

  // Stores `challenge` (already random, URL-safe) for `ttl`. Only a hash of
  // it is kept, never the challenge itself.
  virtual absl::Status Create(absl::string_view profile,
                              absl::string_view challenge,
                              absl::string_view subject, absl::Duration ttl) = 0;

  // Claims `challenge` of `profile` for the transaction `transaction_id`
  // whose request has `fingerprint`, for the rest of the challenge's TTL:
  // the bound subject ("" when unbound) when the challenge is live and
  // unclaimed or claimed by this very transaction and fingerprint; nullopt
  // when unknown, expired, spent or claimed by another. InvalidArgument for
  // an empty challenge, transactionID or fingerprint, or a bad profile.
  virtual absl::StatusOr<std::optional<std::string>> Claim(
      absl::string_view profile, absl::string_view challenge,
      absl::string_view transaction_id, absl::string_view fingerprint) = 0;

  // Ends `challenge` when the transaction and fingerprint hold its claim
  // (compare-and-delete): nothing can claim it again. Changes nothing, and
  // is OK, when the challenge is unclaimed, another's or gone.
  virtual absl::Status Spend(absl::string_view profile, absl::string_view challenge,
                             absl::string_view transaction_id,
                             absl::string_view fingerprint) = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REQUEST_STORE_H_
