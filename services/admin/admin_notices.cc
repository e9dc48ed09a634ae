// Issuance notices the gateways gave up on (gateway notifier.h), listed for
// an operator and queued again once their receiver is fixed.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/codec/identifiers.h"
#include "common/crypto/public_keys.h"
#include "common/redis/notice_outbox.h"
#include "services/admin/admin_core.h"

namespace scep::admin {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;

constexpr int kDefaultLimit = 100;

v1::GivenUpNotice ToProto(const redis::GivenUpNotice& given_up) {
  const redis::Notice& n = given_up.notice;
  v1::GivenUpNotice out;
  out.set_id(given_up.id);
  out.set_profile(n.profile);
  out.set_event(std::string(redis::EventName(n.event)));
  out.set_transaction_id(n.transaction_id);
  out.set_message_type(n.message_type);
  out.set_result(given_up.result);
  out.set_reason(given_up.reason);
  out.set_queued_unix(absl::ToUnixSeconds(given_up.queued));
  out.set_given_up_unix(absl::ToUnixSeconds(given_up.given_up));
  if (n.event == redis::Notice::Event::kIssued) {
    absl::StatusOr<crypto::X509Ptr> cert = crypto::ParseCertificate(n.certificate);
    if (cert.ok()) out.set_serial_hex(codec::SerialHex(X509_get0_serialNumber(cert->get())));
  } else {
    out.set_fail_info(n.fail_info);
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::ListGivenUpNoticesResponse> AdminCore::ListGivenUpNotices(
    const v1::ListGivenUpNoticesRequest& request, const std::string& actor) {
  (void)actor;
  if (request.limit() < 0 || static_cast<size_t>(request.limit()) > redis::kGivenUpMax) {
    return absl::InvalidArgumentError(absl::StrCat("limit must be 0 to ", redis::kGivenUpMax));
  }
  if (!request.profile().empty()) {  // a mistyped name is not "none given up"
    RETURN_IF_ERROR(FindProfile(request.profile(), absl::StatusCode::kNotFound).status());
  }
  v1::ListGivenUpNoticesResponse response;
  if (deps_.notices == nullptr) return response;  // no profile sends notices
  const size_t limit = request.limit() == 0 ? kDefaultLimit : static_cast<size_t>(request.limit());
  ASSIGN_OR_RETURN(std::vector<redis::GivenUpNotice> given_up,
                   deps_.notices->GivenUp(request.profile(), limit));
  for (const redis::GivenUpNotice& g : given_up) *response.add_notices() = ToProto(g);
  return response;
}

absl::StatusOr<v1::RequeueNoticesResponse> AdminCore::RequeueNotices(
    const v1::RequeueNoticesRequest& request, const std::string& actor) {
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  if (ids.size() > redis::kGivenUpMax) {
    return absl::InvalidArgumentError(absl::StrCat("at most ", redis::kGivenUpMax, " ids"));
  }
  if (ids.empty()) {
    if (request.profile().empty()) return absl::InvalidArgumentError("profile or ids is required");
    ASSIGN_OR_RETURN(const gateway::Profile* profile,
                     FindProfile(request.profile(), absl::StatusCode::kFailedPrecondition));
    if (profile->notice_url.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("profile '", profile->name, "' sends no notices (no notify.url)"));
    }
  }
  if (deps_.notices == nullptr) {
    return absl::FailedPreconditionError("no profile of this gateway sends notices");
  }
  if (ids.empty()) {
    ASSIGN_OR_RETURN(std::vector<redis::GivenUpNotice> given_up,
                     deps_.notices->GivenUp(request.profile(), redis::kGivenUpMax));
    // Oldest first: queued again in the order they were first queued.
    for (auto it = given_up.rbegin(); it != given_up.rend(); ++it) ids.push_back(it->id);
  }
  ASSIGN_OR_RETURN(size_t requeued, deps_.notices->Requeue(ids));
  v1::RequeueNoticesResponse response;
  response.set_requeued(static_cast<int32_t>(requeued));
  response.set_not_requeued(static_cast<int32_t>(ids.size() - requeued));
  Audit(LogRecord(LogLevel::kInfo, "audit")
            .Str("action", "requeue_notices")
            .Str("actor", actor)
            .Str("profile", request.profile())
            .Int("asked", static_cast<int64_t>(ids.size()))
            .Int("requeued", static_cast<int64_t>(requeued)));
  return response;
}

}  // namespace scep::admin
