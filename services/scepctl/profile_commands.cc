#include "services/scepctl/profile_commands.h"

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "services/scepctl/mobileconfig.h"

namespace scep::scepctl::internal {
namespace {

namespace v1 = admin::v1;

// YYYY-MM-DD (UTC) of Unix seconds; "-" when unknown.
std::string Day(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(unix_seconds), absl::UTCTimeZone());
}

// profiles list and show print the same, whether one profile or many.
int PrintProfiles(CommandContext& context, v1::ListProfilesResponse& all) {
  if (context.json()) {
    for (v1::Profile& p : *all.mutable_profiles()) {
      p.clear_ca_certificate();  // scripts get it with mobileconfig or GetCACert
      p.clear_root_certificate();
    }
  }
  return context.Reply(all, [](std::ostream& out, const v1::ListProfilesResponse& list) {
    out << "NAME\tTEMPLATE\tCHALLENGE\tAPPROVAL\tCA EXPIRES\tRA EXPIRES\tSUBJECT\n";
    for (const v1::Profile& p : list.profiles()) {
      std::vector<std::string> rdns;
      for (const v1::SubjectRdn& rdn : p.subject()) rdns.push_back(rdn.type() + "=" + rdn.value());
      out << p.name() << (p.is_default() ? " (default)" : "") << "\t"
          << (p.template_name().empty() ? "-" : p.template_name()) << "\t"
          << p.challenge_mode() << "\t" << p.approval() << "\t"
          << Day(p.ca_not_after()) << "\t" << Day(p.ra_not_after()) << "\t"
          << (rdns.empty() ? "(as requested)" : absl::StrJoin(rdns, ",")) << "\n";
    }
    for (const v1::Profile& p : list.profiles()) {
      for (const std::string& problem : p.outside_issuance_policy()) {
        out << "warning: profile " << p.name() << ": " << problem
            << " (the signer refuses its certificates)\n";
      }
    }
  });
}

// The challenge to put in the payload: from --challenge-file ("-": stdin;
// trailing whitespace dropped), else --challenge (with a warning: other
// users see it in ps, the shell keeps it in its history), else
// $SCEP_CHALLENGE, else none. nullopt after a usage error on err.
std::optional<std::string> MobileconfigChallenge(CommandContext& context) {
  const CliArgs& args = context.args();
  if (args.Has("challenge-file")) {
    if (args.Has("challenge")) {
      context.err() << "scepctl: give --challenge-file or --challenge, not both\n";
      return std::nullopt;
    }
    const std::string path = args.GetOr("challenge-file", "");
    std::string text;
    if (path == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else if (path.empty() || !ReadFile(path, &text)) {
      context.err() << "scepctl: cannot read --challenge-file " << path << "\n";
      return std::nullopt;
    }
    return std::string(absl::StripTrailingAsciiWhitespace(text));
  }
  if (args.Has("challenge")) {
    context.err() << "scepctl: warning: --challenge is visible to other users (ps) and in "
                     "shell history; use --challenge-file FILE (- for stdin) or "
                     "SCEP_CHALLENGE\n";
    return args.GetOr("challenge", "");
  }
  const char* env = std::getenv("SCEP_CHALLENGE");
  return std::string(env != nullptr ? env : "");
}

}  // namespace

int ProfilesList(CommandContext& context) {
  v1::ListProfilesResponse all;
  if (!context.Call(&AdminStub::ListProfiles, v1::ListProfilesRequest(), &all)) {
    return kExitFailed;
  }
  return PrintProfiles(context, all);
}

int ProfilesShow(CommandContext& context) {
  std::optional<std::string> name = context.Required("profile");
  if (context.missing()) return kExitUsage;
  v1::GetProfileRequest request;
  request.set_name(*name);
  v1::ListProfilesResponse all;
  if (!context.Call(&AdminStub::GetProfile, request, all.add_profiles())) return kExitFailed;
  return PrintProfiles(context, all);
}

int Mobileconfig(CommandContext& context) {
  std::optional<std::string> profile = context.Required("profile");
  std::optional<std::string> url = context.Required("url");
  if (context.missing()) return kExitUsage;
  const CliArgs& args = context.args();
  MobileconfigOptions options;
  options.url = *url;
  std::optional<std::string> challenge = MobileconfigChallenge(context);
  if (!challenge.has_value()) return kExitUsage;
  options.challenge = *std::move(challenge);
  options.identifier_prefix = args.GetOr("identifier", options.identifier_prefix);
  for (const std::string& var : args.GetAll("var")) {
    const size_t eq = var.find('=');
    if (eq == std::string::npos || eq == 0) {
      context.err() << "scepctl: --var takes ATTR=VALUE\n";
      return kExitUsage;
    }
    options.variables[var.substr(0, eq)] = var.substr(eq + 1);
  }
  v1::GetProfileRequest request;
  request.set_name(*profile);
  v1::Profile response;
  if (!context.Call(&AdminStub::GetProfile, request, &response)) return kExitFailed;
  absl::StatusOr<std::string> plist = BuildMobileconfig(response, options);
  if (!plist.ok()) {
    context.err() << "scepctl: " << plist.status().message() << "\n";
    return kExitFailed;
  }
  // Output, not Reply: the plist is the result, with or without --json.
  // Owner-only: it may carry the challenge.
  return context.OutputPrivate(args.GetOr("out", ""), *plist);
}

}  // namespace scep::scepctl::internal
