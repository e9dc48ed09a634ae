#include "services/scepctl/restore_commands.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace scep::scepctl::internal {
namespace {

namespace v1 = admin::v1;

constexpr int kBatch = 500;  // ~0.8 MB a call; the API takes up to 1000

// The string field `name` of a JSON object, if it has one.
std::optional<std::string> StringField(const google::protobuf::Struct& object,
                                       const std::string& name) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() || !it->second.has_string_value()) return std::nullopt;
  return it->second.string_value();
}

// Sends the certificates gathered from the audit trail and adds the answer
// to `total`; a refusal ("certificate N...: why") is renamed after the
// file line certificate N came from. false when the call failed.
bool SendBatch(CommandContext& context, const std::string& path,
               v1::RestoreCertificatesRequest& batch, std::vector<int64_t>& lines,
               v1::RestoreCertificatesResponse& total) {
  if (batch.certificates_size() == 0) return true;
  v1::RestoreCertificatesResponse response;
  if (!context.Call(&AdminStub::RestoreCertificates, batch, &response)) return false;
  total.set_restored(total.restored() + response.restored());
  total.set_indexed(total.indexed() + response.indexed());
  total.set_revoked(total.revoked() + response.revoked());
  total.set_expired(total.expired() + response.expired());
  for (const std::string& refused : response.refused()) {
    absl::string_view rest = refused;
    size_t index = 0;
    const size_t digits = absl::StartsWith(rest, "certificate ")
                              ? rest.find_first_not_of("0123456789", 12)
                              : absl::string_view::npos;
    if (digits != absl::string_view::npos &&
        absl::SimpleAtoi(rest.substr(12, digits - 12), &index) && index < lines.size()) {
      total.add_refused(absl::StrCat(path, ":", lines[index], rest.substr(digits)));
    } else {
      total.add_refused(refused);
    }
  }
  batch.clear_certificates();
  lines.clear();
  return true;
}

}  // namespace

int CrlRestore(CommandContext& context) {
  std::optional<std::string> path = context.Required("in");
  if (context.missing()) return kExitUsage;
  v1::RestoreRevocationsRequest request;
  request.set_profile(context.args().GetOr("profile", ""));
  if (!ReadFile(*path, request.mutable_crl())) {
    context.err() << "scepctl: cannot read " << *path << "\n";
    return kExitUsage;
  }
  return context.CallAndReply(
      &AdminStub::RestoreRevocations, request,
      [](std::ostream& out, const v1::RestoreRevocationsResponse& response) {
        out << "restored " << response.restored() << " of " << response.listed()
            << " revocations (cRLNumber " << response.crl_number()
            << "); the next CRL lists them all\n";
      });
}

namespace {

// What certs restore has read and sent so far, over every trail.
struct Restore {
  std::string fallback_profile;  // for lines naming none; "" = default
  v1::RestoreCertificatesResponse total;
  int64_t issued_lines = 0, without_certificate = 0, unreadable = 0;
};

// Reads one trail (`name` in messages), sending its certificates in
// batches; false when a call failed.
bool RestoreFrom(CommandContext& context, const std::string& name, std::istream& in,
                 Restore& restore) {
  v1::RestoreCertificatesRequest batch;
  std::vector<int64_t> lines;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    // Other events share the stream when the trail goes to standard error.
    if (!absl::StrContains(line, R"("certificate_issued")")) continue;
    // Container runtimes and log shippers put a timestamp and stream name
    // before the JSON ("2026-11-28T05:00:00Z stderr F {...}").
    const size_t brace = line.find('{');
    google::protobuf::Struct object;
    if (brace == std::string::npos ||
        !google::protobuf::util::JsonStringToMessage(line.substr(brace), &object).ok() ||
        StringField(object, "event") != "certificate_issued") {
      ++restore.unreadable;
      continue;
    }
    ++restore.issued_lines;
    std::optional<std::string> encoded = StringField(object, "certificate");
    if (!encoded.has_value()) {
      ++restore.without_certificate;
      continue;
    }
    v1::RestoreCertificatesRequest::Entry* entry = batch.add_certificates();
    if (!absl::Base64Unescape(*encoded, entry->mutable_certificate())) {
      entry->set_certificate(*encoded);  // the server names what is wrong with it
    }
    entry->set_profile(StringField(object, "profile").value_or(restore.fallback_profile));
    lines.push_back(number);
    if (batch.certificates_size() == kBatch &&
        !SendBatch(context, name, batch, lines, restore.total)) {
      return false;
    }
  }
  return SendBatch(context, name, batch, lines, restore.total);
}

}  // namespace

int CertsRestore(CommandContext& context) {
  context.Required("audit");
  if (context.missing()) return kExitUsage;
  const std::vector<std::string> paths = context.args().GetAll("audit");
  Restore restore;
  restore.fallback_profile = context.args().GetOr("profile", "");
  for (const std::string& path : paths) {
    bool sent;
    if (path == "-") {  // e.g. kubectl logs scep-signer-0 | scepctl certs restore --audit -
      sent = RestoreFrom(context, "stdin", std::cin, restore);
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        context.err() << "scepctl: cannot read " << path << "\n";
        return kExitUsage;
      }
      sent = RestoreFrom(context, path, in, restore);
    }
    if (!sent) return kExitFailed;  // what went before is recorded; running again is harmless
  }
  for (const std::string& refused : restore.total.refused()) context.err() << refused << "\n";
  if (restore.unreadable > 0) {
    context.err() << "scepctl: " << restore.unreadable
                  << " certificate_issued lines are not JSON (cut off?); skipped\n";
  }
  if (restore.without_certificate > 0) {
    context.err() << "scepctl: " << restore.without_certificate << " of "
                  << restore.issued_lines
                  << " certificate_issued lines carry no certificate (the signer ran "
                     "without --audit_certificates); those stay unknown\n";
  }
  const int status = restore.total.refused_size() > 0 ? kExitFailed : kExitOk;
  context.Reply(restore.total, [](std::ostream& out, const v1::RestoreCertificatesResponse& r) {
    out << "restored " << r.restored() << ", recorded revoked " << r.revoked()
        << ", already known " << r.indexed() << ", long expired (left out) " << r.expired()
        << ", refused " << r.refused_size() << "\n";
  });
  return status;
}

}  // namespace scep::scepctl::internal
