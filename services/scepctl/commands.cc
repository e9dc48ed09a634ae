#include "services/scepctl/commands.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
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

// A verb: what runs it and the flags it takes besides GlobalFlags().
struct Verb {
  int (*run)(CommandContext&);
  std::vector<std::string> flags;
};

// Read by main.cc before any verb runs (usage.cc, "Global flags").
const std::vector<std::string>& GlobalFlags() {
  static const auto* const kFlags = new std::vector<std::string>{
      "server", "token-file", "tls-ca", "tls-cert", "tls-key", "tls-server-name",
      "insecure", "timeout", "json", "help"};
  return *kFlags;
}

// Every verb usage.cc documents, what runs it and its flags (usage.cc
// names each; scepctl_test checks they agree).
const std::map<std::string, Verb>& Verbs() {
  static const auto* const kVerbs = new std::map<std::string, Verb>{
      {"challenge create", {&internal::ChallengeCreate, {"profile", "subject", "ttl"}}},
      {"requests list",
       {&internal::RequestsList, {"profile", "status", "page-size", "page-token", "all"}}},
      {"requests approve", {&internal::RequestsApprove, {"profile", "tid"}}},
      {"requests reject", {&internal::RequestsReject, {"profile", "tid", "reason"}}},
      {"notices list", {&internal::NoticesList, {"profile", "limit"}}},
      {"notices requeue", {&internal::NoticesRequeue, {"profile", "id"}}},
      {"certs list",
       {&internal::CertsList,
        {"profile", "subject", "status", "page-size", "page-token", "all"}}},
      {"certs show", {&internal::CertsShow, {"serial", "pem", "out"}}},
      {"certs revoke", {&internal::CertsRevoke, {"serial", "cert", "profile", "reason"}}},
      {"certs restore", {&internal::CertsRestore, {"audit", "profile"}}},
      {"crl", {&internal::Crl, {"profile", "out", "pem"}}},
      {"crl restore", {&internal::CrlRestore, {"in", "profile"}}},
      {"enroll", {&internal::Enroll, {"profile", "csr", "request-id", "out"}}},
      {"profiles list", {&internal::ProfilesList, {}}},
      {"profiles show", {&internal::ProfilesShow, {"profile"}}},
      {"mobileconfig",
       {&internal::Mobileconfig, {"profile", "url", "challenge-file", "challenge", "var", "identifier", "out"}}},
  };
  return *kVerbs;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A flag the verb does not take is a usage error, not something to
// ignore: a misspelt --subject would mint an unbound challenge. Names
// only the flag, never its value (it may be a secret).
std::optional<int> RefuseUnknownFlags(const std::string& verb, const CliArgs& args,
                                      std::ostream& err) {
  const std::vector<std::string>& flags = Verbs().at(verb).flags;
  std::set<std::string> unknown;
  for (const auto& [name, value] : args.flags) {
    if (!Contains(flags, name) && !Contains(GlobalFlags(), name)) unknown.insert(name);
  }
  // Words past the verb: an unquoted value ("--subject CN=a, O=b" mints a
  // challenge for "CN=a,"), or a flag's name left out ("approve ... T").
  const size_t verb_words = static_cast<size_t>(std::count(verb.begin(), verb.end(), ' ')) + 1;
  if (unknown.empty() && args.words.size() <= verb_words) return std::nullopt;
  // Not echoed: it may be part of a secret (an unquoted --challenge).
  if (args.words.size() > verb_words) {
    err << "scepctl: " << verb << ": " << args.words.size() - verb_words
        << " unexpected argument(s) after the command (quote a value with spaces; "
           "every value follows its --flag)\n";
  }
  for (const std::string& name : unknown) {
    err << "scepctl: " << verb << ": unknown flag --" << name << "\n";
  }
  err << "scepctl: " << verb << " takes "
      << (flags.empty() ? std::string("no flags of its own")
                        : "--" + absl::StrJoin(flags, ", --"))
      << " and the global flags (scepctl --help)\n"
      << Usage(verb);
  return internal::kExitUsage;
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
  return RefuseUnknownFlags(verb, args, err);
}

std::vector<std::string> VerbFlags(const std::string& verb) {
  if (verb.empty()) return GlobalFlags();
  auto it = Verbs().find(verb);
  return it != Verbs().end() ? it->second.flags : std::vector<std::string>();
}

int RunCommand(const CliArgs& args, admin::v1::Admin::StubInterface& stub,
               const CallOptions& call, std::ostream& out, std::ostream& err) {
  if (std::optional<int> status = HandleUsage(args, out, err)) return *status;
  CommandContext context(args, stub, call, out, err);
  // HandleUsage lets through only verbs usage.cc knows and the table holds
  // all of those, so a miss is a bug: at() ends the process.
  return Verbs().at(VerbOf(args)).run(context);
}

}  // namespace scep::scepctl
