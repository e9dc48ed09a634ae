#include "services/scepctl/requests_commands.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace scep::scepctl::internal {
namespace {

namespace v1 = admin::v1;

// The request that `requests approve|reject` decides on.
struct Target {
  std::string profile;
  std::string transaction_id;  // decoded from the hex: or b64: form
};

// --tid as `requests list` prints it (the ID itself, or "hex:" and hex
// for one with unprintable bytes), or "b64:" and the base64 that
// `requests list --json` prints (proto3 JSON writes bytes so). nullopt
// for a hex: or b64: that does not decode.
std::optional<std::string> TransactionId(const std::string& tid) {
  std::string bytes;
  if (absl::StartsWith(tid, "hex:")) {
    const absl::string_view hex = absl::string_view(tid).substr(4);
    if (hex.size() % 2 != 0 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return std::nullopt;
    }
    return absl::HexStringToBytes(hex);
  }
  if (absl::StartsWith(tid, "b64:")) {
    const absl::string_view b64 = absl::string_view(tid).substr(4);
    if (b64.empty() ||
        (!absl::Base64Unescape(b64, &bytes) && !absl::WebSafeBase64Unescape(b64, &bytes))) {
      return std::nullopt;
    }
    return bytes;
  }
  return tid;
}

// --profile and --tid; nullopt after printing the usage errors.
std::optional<Target> ParseTarget(CommandContext& context) {
  std::optional<std::string> profile = context.Required("profile");
  std::optional<std::string> tid = context.Required("tid");
  if (context.missing()) return std::nullopt;
  std::optional<std::string> transaction_id = TransactionId(*tid);
  if (!transaction_id.has_value()) {
    context.err() << "scepctl: --tid: after hex: come hex digits, after b64: base64\n";
    return std::nullopt;
  }
  return Target{*profile, *std::move(transaction_id)};
}

}  // namespace

int ChallengeCreate(CommandContext& context) {
  std::optional<std::string> profile = context.Required("profile");
  if (context.missing()) return kExitUsage;
  v1::CreateChallengeRequest request;
  request.set_profile(*profile);
  request.set_subject(context.args().GetOr("subject", ""));
  if (std::optional<std::string> ttl = context.args().Get("ttl")) {
    absl::StatusOr<int64_t> seconds = ParseDurationSeconds(*ttl);
    if (!seconds.ok()) {
      context.err() << "scepctl: --ttl: " << seconds.status().message() << "\n";
      return kExitUsage;
    }
    request.set_ttl_seconds(*seconds);
  }
  return context.CallAndReply(
      &AdminStub::CreateChallenge, request,
      [](std::ostream& out, const v1::CreateChallengeResponse& response) {
        out << response.challenge() << "\n";
      });
}

int RequestsList(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::ListRequestsRequest request;
  request.set_profile(args.GetOr("profile", ""));
  if (std::optional<std::string> status = args.Get("status")) {
    v1::RequestStatus value;
    if (!v1::RequestStatus_Parse("REQUEST_STATUS_" + absl::AsciiStrToUpper(*status), &value)) {
      context.err() << "scepctl: --status must be REQUESTED, APPROVED, REJECTED or ISSUED\n";
      return kExitUsage;
    }
    request.set_status(value);
  }
  std::optional<int> page_size = context.PageSize();
  if (!page_size.has_value()) return kExitUsage;
  request.set_page_size(*page_size);
  request.set_page_token(args.GetOr("page-token", ""));
  v1::ListRequestsResponse all;
  do {
    v1::ListRequestsResponse response;
    if (!context.Call(&AdminStub::ListRequests, request, &response)) return kExitFailed;
    for (v1::ApprovalRequest& r : *response.mutable_requests()) {
      r.clear_csr();  // bulky; `requests list --json` is for scripts
      *all.add_requests() = std::move(r);
    }
    all.set_next_page_token(response.next_page_token());
    request.set_page_token(response.next_page_token());
  } while (args.Has("all") && !request.page_token().empty());
  return context.Reply(all, [&](std::ostream& out, const v1::ListRequestsResponse& list) {
    out << "PROFILE\tTRANSACTION_ID\tSTATUS\tSUBJECT\tCREATED\tACTOR\tSERIAL\n";
    for (const v1::ApprovalRequest& r : list.requests()) {
      out << r.profile() << "\t" << Printable(r.transaction_id()) << "\t"
          << absl::StripPrefix(v1::RequestStatus_Name(r.status()), "REQUEST_STATUS_") << "\t"
          << r.subject() << "\t" << Date(r.created_unix()) << "\t"
          << (r.actor().empty() ? "-" : r.actor()) << "\t"
          << (r.serial_hex().empty() ? "-" : r.serial_hex()) << "\n";
    }
    if (!list.next_page_token().empty()) {
      context.err() << "more: --page-token " << list.next_page_token() << "\n";
    }
  });
}

int RequestsApprove(CommandContext& context) {
  std::optional<Target> target = ParseTarget(context);
  if (!target.has_value()) return kExitUsage;
  v1::ApproveRequestRequest request;
  request.set_profile(target->profile);
  request.set_transaction_id(target->transaction_id);
  return context.CallAndReply(
      &AdminStub::ApproveRequest, request,
      [](std::ostream& out, const v1::ApproveRequestResponse& response) {
        out << "approved; issued serial " << response.serial_hex() << "\n";
      });
}

int RequestsReject(CommandContext& context) {
  std::optional<Target> target = ParseTarget(context);
  if (!target.has_value()) return kExitUsage;
  v1::RejectRequestRequest request;
  request.set_profile(target->profile);
  request.set_transaction_id(target->transaction_id);
  request.set_reason(context.args().GetOr("reason", ""));
  return context.CallAndReply(&AdminStub::RejectRequest, request,
                              [](std::ostream& out, const v1::RejectRequestResponse&) {
                                out << "rejected\n";
                              });
}

}  // namespace scep::scepctl::internal
