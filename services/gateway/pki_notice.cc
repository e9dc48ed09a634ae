// Issuance notices (notifier.h): what the request path queues.

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "services/gateway/pki_operation.h"

namespace scep::gateway {

redis::Notice PkiOperation::IssuedNotice(const Profile& profile, const Request& req,
                                         const codec::Csr& csr,
                                         const std::string& certificate) const {
  redis::Notice notice;
  notice.event = redis::Notice::Event::kIssued;
  notice.profile = profile.name;
  notice.transaction_id = req.msg.attributes.transaction_id;
  notice.message_type = std::string(codec::MessageTypeName(req.msg.attributes.message_type));
  if (profile.notice_csr) notice.csr = csr.der;
  notice.certificate = certificate;
  notice.time = absl::Now();
  return notice;
}

PkiOutcome PkiOperation::WithFailureNotice(const Profile& profile, const Request& req,
                                           PkiOutcome outcome) {
  // Each queued notice gets a notice_id of its own, which receivers
  // deduplicate by: a refusal is noticed once. Not again for the identical
  // message (its first arrival was noticed, or answered 503 with the nonce
  // forgotten, so that it is no retransmission), nor for a transaction an
  // operator rejected (RejectRequest queued that notice).
  if (!profile.notice_failed || extras_.notices == nullptr || req.csr_der.empty() ||
      req.retransmission || outcome.pki_status != "FAILURE" ||
      outcome.fail_info_text == kReplayText ||
      outcome.fail_info_text == kTransactionReusedText ||
      outcome.fail_info_text == kRejectedText) {
    return outcome;
  }
  redis::Notice notice;
  notice.event = redis::Notice::Event::kFailed;
  notice.profile = profile.name;
  notice.transaction_id = req.msg.attributes.transaction_id;
  notice.message_type = outcome.message_type;
  if (profile.notice_csr && !req.challenge_open) notice.csr = req.csr_der;
  notice.fail_info = outcome.fail_info;
  notice.fail_info_text = outcome.fail_info_text;
  notice.time = absl::Now();
  if (!extras_.notices->Add(notice).ok()) {
    // Nothing lost: the device retries after the 503 and is refused (and
    // noticed) again.
    return UnavailableAfterNonce(req, "notice queue");
  }
  return outcome;
}

}  // namespace scep::gateway
