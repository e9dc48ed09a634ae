#include "services/scepctl/notices_commands.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"

namespace scep::scepctl::internal {

namespace v1 = admin::v1;

int NoticesList(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::ListGivenUpNoticesRequest request;
  request.set_profile(args.GetOr("profile", ""));
  if (std::optional<std::string> limit = args.Get("limit")) {
    int value = 0;
    if (!absl::SimpleAtoi(*limit, &value) || value < 1 || value > 10000) {
      context.err() << "scepctl: --limit must be 1 to 10000\n";
      return kExitUsage;
    }
    request.set_limit(value);
  }
  return context.CallAndReply(
      &AdminStub::ListGivenUpNotices, request,
      [](std::ostream& out, const v1::ListGivenUpNoticesResponse& list) {
        out << "ID\tPROFILE\tEVENT\tTRANSACTION_ID\tSERIAL_OR_FAILINFO\tRESULT\tGIVEN_UP\tREASON\n";
        for (const v1::GivenUpNotice& n : list.notices()) {
          const std::string& what = n.event() == "issued" ? n.serial_hex() : n.fail_info();
          out << n.id() << "\t" << n.profile() << "\t" << n.event() << "\t"
              << Printable(n.transaction_id()) << "\t" << (what.empty() ? "-" : what) << "\t"
              << n.result() << "\t" << Date(n.given_up_unix()) << "\t" << n.reason() << "\n";
        }
      });
}

int NoticesRequeue(CommandContext& context) {
  const CliArgs& args = context.args();
  v1::RequeueNoticesRequest request;
  request.set_profile(args.GetOr("profile", ""));
  for (const std::string& id : args.GetAll("id")) request.add_ids(id);
  if (request.profile().empty() && request.ids().empty()) {
    context.err() << "scepctl: notices requeue needs --profile P or --id ID\n";
    return kExitUsage;
  }
  return context.CallAndReply(
      &AdminStub::RequeueNotices, request,
      [&context](std::ostream& out, const v1::RequeueNoticesResponse& response) {
        out << "requeued " << response.requeued() << "\n";
        if (response.not_requeued() > 0) {
          context.err() << response.not_requeued()
                        << " not requeued: the queue is full (--notice_queue_max), or the id "
                           "is no longer listed\n";
        }
      });
}

}  // namespace scep::scepctl::internal
