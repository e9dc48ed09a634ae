#include "services/scepctl/commands.h"

#include <map>
#include <string>

#include "services/scepctl/certs_commands.h"
#include "services/scepctl/command_context.h"
#include "services/scepctl/notices_commands.h"
#include "services/scepctl/profile_commands.h"
#include "services/scepctl/requests_commands.h"
#include "services/scepctl/restore_commands.h"
#include "services/scepctl/usage.h"

namespace scep::scepctl {
namespace {

using internal::CommandContext;

// "crl", "enroll" and "mobileconfig" stand alone (but "crl restore");
// every other verb has a sub-verb ("certs show").
std::string VerbOf(const CliArgs& args) {
  if (args.words.empty()) return "";
  const std::string& first = args.words[0];
  if (first == "crl" && args.words.size() >= 2 && args.words[1] == "restore") {
    return "crl restore";
  }
  if (first == "crl" || first == "enroll" || first == "mobileconfig") return first;
  if (args.words.size() < 2) return first;
  return first + " " + args.words[1];
}

// Every verb usage.cc documents, and what runs it.
const std::map<std::string, int (*)(CommandContext&)>& Verbs() {
  static const auto* const kVerbs = new std::map<std::string, int (*)(CommandContext&)>{
      {"challenge create", &internal::ChallengeCreate},
      {"requests list", &internal::RequestsList},
      {"requests approve", &internal::RequestsApprove},
      {"requests reject", &internal::RequestsReject},
      {"notices list", &internal::NoticesList},
      {"notices requeue", &internal::NoticesRequeue},
      {"certs list", &internal::CertsList},
      {"certs show", &internal::CertsShow},
      {"certs revoke", &internal::CertsRevoke},
      {"certs restore", &internal::CertsRestore},
      {"crl", &internal::Crl},
      {"crl restore", &internal::CrlRestore},
      {"enroll", &internal::Enroll},
      {"profiles list", &internal::ProfilesList},
      {"profiles show", &internal::ProfilesShow},
      {"mobileconfig", &internal::Mobileconfig},
  };
  return *kVerbs;
}

}  // namespace

bool IsKnownCommand(const CliArgs& args) {
  const std::string verb = VerbOf(args);
  return !verb.empty() && HasUsage(verb);
}

std::optional<int> HandleUsage(const CliArgs& args, std::ostream& out, std::ostream& err) {
  const std::string verb = VerbOf(args);
  if (!IsKnownCommand(args)) {
    if (args.Has("help")) {
      out << Usage("");
      return 0;
    }
    if (!verb.empty()) err << "scepctl: unknown command '" << verb << "'\n";
    err << Usage("");
    return 2;
  }
  if (args.Has("help")) {
    out << Usage(verb);
    return 0;
  }
  return std::nullopt;
}

int RunCommand(const CliArgs& args, admin::v1::Admin::StubInterface& stub,
               const CallOptions& call, std::ostream& out, std::ostream& err) {
  if (std::optional<int> status = HandleUsage(args, out, err)) return *status;
  CommandContext context(args, stub, call, out, err);
  // HandleUsage lets through only verbs usage.cc knows and the table holds
  // all of those, so a miss is a bug: at() ends the process.
  return Verbs().at(VerbOf(args))(context);
}

}  // namespace scep::scepctl
