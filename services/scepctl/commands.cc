#include "services/scepctl/commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "services/scepctl/mobileconfig.h"
#include "services/scepctl/usage.h"

namespace scep::scepctl {
namespace {

namespace v1 = admin::v1;

std::string VerbOf(const CliArgs& args) {
  if (args.words.empty()) return "";
  const std::string& first = args.words[0];
  if (first == "crl" || first == "enroll" || first == "mobileconfig") return first;
  if (args.words.size() < 2) return first;
  return first + " " + args.words[1];
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

// Transaction IDs are usually printable (hex or base64); others are shown
// as hex: prefix.
std::string Printable(absl::string_view bytes) {
  for (char c : bytes) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) return "hex:" + Hex(bytes);
  }
  return std::string(bytes);
}

std::string Date(int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string Pem(absl::string_view der, absl::string_view label) {
  std::string b64 = absl::Base64Escape(der);
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < b64.size(); i += 64) absl::StrAppend(&out, b64.substr(i, 64), "\n");
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  return out;
}

bool ReadFile(const std::string& path, std::string* data) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *data = ss.str();
  return true;
}

// DER of a CSR file in PEM or DER.
std::optional<std::string> CsrDer(const std::string& data) {
  if (!absl::StrContains(data, "-----BEGIN")) return data;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(data.data(), static_cast<int>(data.size())), BIO_free);
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(
      PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr), X509_REQ_free);
  if (req == nullptr) return std::nullopt;
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::optional<int> ParseReason(const std::string& text) {
  static const std::map<std::string, int> kNames = {
      {"unspecified", 0}, {"keycompromise", 1}, {"cacompromise", 2},
      {"affiliationchanged", 3}, {"superseded", 4}, {"cessationofoperation", 5},
      {"certificatehold", 6}, {"privilegewithdrawn", 9}, {"aacompromise", 10}};
  int value = 0;
  if (absl::SimpleAtoi(text, &value)) return value;
  auto it = kNames.find(absl::AsciiStrToLower(text));
  if (it == kNames.end()) return std::nullopt;
  return it->second;
}

class Command {
 public:
  Command(const CliArgs& args, v1::Admin::StubInterface& stub, const CallOptions& call,
          std::ostream& out, std::ostream& err)
      : args_(args), stub_(stub), call_(call), out_(out), err_(err),
        json_(args.Has("json")) {}

  int Run(const std::string& verb);

 private:
  using Rpc = std::function<grpc::Status(grpc::ClientContext*)>;

  // Makes one call with the token and deadline; prints the error.
  bool Call(const Rpc& rpc) {
    grpc::ClientContext context;
    if (!call_.token.empty()) context.AddMetadata("authorization", "Bearer " + call_.token);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(call_.timeout_seconds));
    grpc::Status status = rpc(&context);
    if (!status.ok()) {
      err_ << "scepctl: " << CodeName(status.error_code()) << ": "
           << status.error_message() << "\n";
    }
    return status.ok();
  }

  static std::string CodeName(grpc::StatusCode code) {
    return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  }

  void PrintJson(const google::protobuf::Message& message) {
    std::string text;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = false;
    (void)google::protobuf::util::MessageToJsonString(message, &text, options);
    out_ << text << "\n";
  }

  // The flag's value, or a usage error (exit 2) when missing.
  std::optional<std::string> Required(absl::string_view name) {
    std::optional<std::string> value = args_.Get(name);
    if (!value.has_value() || value->empty()) {
      err_ << "scepctl: --" << name << " is required\n";
      missing_ = true;
    }
    return value;
  }

  int Output(const std::string& path, const std::string& data) {
    if (path.empty() || path == "-") {
      out_ << data;
      return 0;
    }
    std::ofstream file(path, std::ios::binary);
    file << data;
    if (!file) {
      err_ << "scepctl: cannot write " << path << "\n";
      return 1;
    }
    return 0;
  }

  int ChallengeCreate();
  int RequestsList();
  int RequestsDecide(bool approve);
  int CertsList();
  int CertsShow();
  int CertsRevoke();
  int Crl();
  int Enroll();
  int Profiles(bool list);
  int Mobileconfig();

  const CliArgs& args_;
  v1::Admin::StubInterface& stub_;
  const CallOptions& call_;
  std::ostream& out_;
  std::ostream& err_;
  const bool json_;
  bool missing_ = false;
};

int Command::Run(const std::string& verb) {
  static const std::map<std::string, std::function<int(Command&)>> kVerbs = {
      {"challenge create", &Command::ChallengeCreate},
      {"requests list", &Command::RequestsList},
      {"requests approve", [](Command& c) { return c.RequestsDecide(true); }},
      {"requests reject", [](Command& c) { return c.RequestsDecide(false); }},
      {"certs list", &Command::CertsList},
      {"certs show", &Command::CertsShow},
      {"certs revoke", &Command::CertsRevoke},
      {"crl", &Command::Crl},
      {"enroll", &Command::Enroll},
      {"profiles list", [](Command& c) { return c.Profiles(true); }},
      {"profiles show", [](Command& c) { return c.Profiles(false); }},
      {"mobileconfig", &Command::Mobileconfig},
  };
  return kVerbs.at(verb)(*this);
}

}  // namespace

namespace {

int Command::ChallengeCreate() {
  v1::CreateChallengeRequest request;
  std::optional<std::string> profile = Required("profile");
  if (missing_) return 2;
  request.set_profile(*profile);
  request.set_subject(args_.GetOr("subject", ""));
  if (std::optional<std::string> ttl = args_.Get("ttl")) {
    absl::StatusOr<int64_t> seconds = ParseDurationSeconds(*ttl);
    if (!seconds.ok()) {
      err_ << "scepctl: --ttl: " << seconds.status().message() << "\n";
      return 2;
    }
    request.set_ttl_seconds(*seconds);
  }
  v1::CreateChallengeResponse response;
  if (!Call([&](grpc::ClientContext* c) { return stub_.CreateChallenge(c, request, &response); })) {
    return 1;
  }
  if (json_) {
    PrintJson(response);
  } else {
    out_ << response.challenge() << "\n";
  }
  return 0;
}

int Command::RequestsList() {
  v1::ListRequestsRequest request;
  request.set_profile(args_.GetOr("profile", ""));
  if (std::optional<std::string> status = args_.Get("status")) {
    v1::RequestStatus value;
    if (!v1::RequestStatus_Parse("REQUEST_STATUS_" + absl::AsciiStrToUpper(*status), &value)) {
      err_ << "scepctl: --status must be REQUESTED, APPROVED, REJECTED or ISSUED\n";
      return 2;
    }
    request.set_status(value);
  }
  int page_size = 0;
  if (args_.Has("page-size") && !absl::SimpleAtoi(args_.GetOr("page-size", ""), &page_size)) {
    err_ << "scepctl: --page-size must be a number\n";
    return 2;
  }
  request.set_page_size(page_size);
  request.set_page_token(args_.GetOr("page-token", ""));
  v1::ListRequestsResponse all;
  do {
    v1::ListRequestsResponse response;
    if (!Call([&](grpc::ClientContext* c) { return stub_.ListRequests(c, request, &response); })) {
      return 1;
    }
    for (v1::ApprovalRequest& r : *response.mutable_requests()) {
      r.clear_csr();  // bulky; `requests list --json` is for scripts
      *all.add_requests() = std::move(r);
    }
    all.set_next_page_token(response.next_page_token());
    request.set_page_token(response.next_page_token());
  } while (args_.Has("all") && !request.page_token().empty());
  if (json_) {
    PrintJson(all);
    return 0;
  }
  out_ << "PROFILE\tTRANSACTION_ID\tSTATUS\tSUBJECT\tCREATED\tACTOR\tSERIAL\n";
  for (const v1::ApprovalRequest& r : all.requests()) {
    out_ << r.profile() << "\t" << Printable(r.transaction_id()) << "\t"
         << absl::StripPrefix(v1::RequestStatus_Name(r.status()), "REQUEST_STATUS_") << "\t"
         << r.subject() << "\t" << Date(r.created_unix()) << "\t"
         << (r.actor().empty() ? "-" : r.actor()) << "\t"
         << (r.serial_hex().empty() ? "-" : r.serial_hex()) << "\n";
  }
  if (!all.next_page_token().empty()) {
    err_ << "more: --page-token " << all.next_page_token() << "\n";
  }
  return 0;
}

int Command::RequestsDecide(bool approve) {
  std::optional<std::string> profile = Required("profile");
  std::optional<std::string> tid = Required("tid");
  if (missing_) return 2;
  std::string transaction_id = *tid;
  if (absl::StartsWith(transaction_id, "hex:")) {
    transaction_id = absl::HexStringToBytes(transaction_id.substr(4));
  }
  if (approve) {
    v1::ApproveRequestRequest request;
    request.set_profile(*profile);
    request.set_transaction_id(transaction_id);
    v1::ApproveRequestResponse response;
    if (!Call([&](grpc::ClientContext* c) { return stub_.ApproveRequest(c, request, &response); })) {
      return 1;
    }
    if (json_) {
      PrintJson(response);
    } else {
      out_ << "approved; issued serial " << response.serial_hex() << "\n";
    }
    return 0;
  }
  v1::RejectRequestRequest request;
  request.set_profile(*profile);
  request.set_transaction_id(transaction_id);
  request.set_reason(args_.GetOr("reason", ""));
  v1::RejectRequestResponse response;
  if (!Call([&](grpc::ClientContext* c) { return stub_.RejectRequest(c, request, &response); })) {
    return 1;
  }
  if (json_) {
    PrintJson(response);
  } else {
    out_ << "rejected\n";
  }
  return 0;
}

int Command::CertsList() {
  v1::ListCertificatesRequest request;
  request.set_profile(args_.GetOr("profile", ""));
  request.set_subject_contains(args_.GetOr("subject", ""));
  if (std::optional<std::string> status = args_.Get("status")) {
    v1::CertificateStatus value;
    if (!v1::CertificateStatus_Parse("CERTIFICATE_STATUS_" + absl::AsciiStrToUpper(*status),
                                     &value)) {
      err_ << "scepctl: --status must be valid, revoked or expired\n";
      return 2;
    }
    request.set_status(value);
  }
  int page_size = 0;
  if (args_.Has("page-size") && !absl::SimpleAtoi(args_.GetOr("page-size", ""), &page_size)) {
    err_ << "scepctl: --page-size must be a number\n";
    return 2;
  }
  request.set_page_size(page_size);
  request.set_page_token(args_.GetOr("page-token", ""));
  v1::ListCertificatesResponse all;
  do {
    v1::ListCertificatesResponse response;
    if (!Call([&](grpc::ClientContext* c) {
          return stub_.ListCertificates(c, request, &response);
        })) {
      return 1;
    }
    for (v1::Certificate& cert : *response.mutable_certificates()) {
      *all.add_certificates() = std::move(cert);
    }
    all.set_next_page_token(response.next_page_token());
    request.set_page_token(response.next_page_token());
  } while (args_.Has("all") && !request.page_token().empty());
  if (json_) {
    PrintJson(all);
    return 0;
  }
  out_ << "SERIAL\tPROFILE\tSTATUS\tNOT_AFTER\tSUBJECT\n";
  for (const v1::Certificate& c : all.certificates()) {
    out_ << c.serial_hex() << "\t" << c.profile() << "\t"
         << absl::StripPrefix(v1::CertificateStatus_Name(c.status()), "CERTIFICATE_STATUS_")
         << "\t" << Date(c.not_after_unix()) << "\t" << c.subject() << "\n";
  }
  if (!all.next_page_token().empty()) {
    err_ << "more: --page-token " << all.next_page_token() << "\n";
  }
  return 0;
}

int Command::CertsShow() {
  std::optional<std::string> serial = Required("serial");
  if (missing_) return 2;
  v1::GetCertificateRequest request;
  request.set_serial_hex(absl::AsciiStrToLower(*serial));
  v1::Certificate response;
  if (!Call([&](grpc::ClientContext* c) { return stub_.GetCertificate(c, request, &response); })) {
    return 1;
  }
  if (args_.Has("out")) return Output(args_.GetOr("out", ""), Pem(response.der(), "CERTIFICATE"));
  if (args_.Has("pem")) return Output("", Pem(response.der(), "CERTIFICATE"));
  if (json_) {
    PrintJson(response);
    return 0;
  }
  out_ << "serial:      " << response.serial_hex() << "\n"
       << "profile:     " << response.profile() << "\n"
       << "subject:     " << response.subject() << "\n"
       << "issuer:      " << response.issuer() << "\n"
       << "not before:  " << Date(response.not_before_unix()) << "\n"
       << "not after:   " << Date(response.not_after_unix()) << "\n"
       << "status:      "
       << absl::StripPrefix(v1::CertificateStatus_Name(response.status()),
                            "CERTIFICATE_STATUS_")
       << "\n"
       << "sha256:      " << response.sha256_fingerprint() << "\n";
  if (response.status() == v1::CERTIFICATE_STATUS_REVOKED) {
    out_ << "revoked:     " << Date(response.revoked_unix()) << " (reason "
         << response.revocation_reason() << ")\n";
  }
  return 0;
}

int Command::CertsRevoke() {
  std::optional<std::string> serial = Required("serial");
  if (missing_) return 2;
  std::optional<int> reason = ParseReason(args_.GetOr("reason", "0"));
  if (!reason.has_value()) {
    err_ << "scepctl: unknown --reason (see scepctl certs revoke --help)\n";
    return 2;
  }
  v1::RevokeCertificateRequest request;
  request.set_serial_hex(absl::AsciiStrToLower(*serial));
  request.set_reason(*reason);
  v1::RevokeCertificateResponse response;
  if (!Call([&](grpc::ClientContext* c) {
        return stub_.RevokeCertificate(c, request, &response);
      })) {
    return 1;
  }
  if (json_) {
    PrintJson(response);
  } else {
    out_ << "revoked " << request.serial_hex() << "\n";
  }
  return 0;
}

int Command::Crl() {
  v1::GetCRLResponse response;
  if (!Call([&](grpc::ClientContext* c) {
        return stub_.GetCRL(c, v1::GetCRLRequest(), &response);
      })) {
    return 1;
  }
  if (json_ && !args_.Has("out")) {
    PrintJson(response);
    return 0;
  }
  return Output(args_.GetOr("out", ""),
                args_.Has("pem") ? Pem(response.crl(), "X509 CRL") : response.crl());
}

int Command::Enroll() {
  std::optional<std::string> profile = Required("profile");
  std::optional<std::string> csr_path = Required("csr");
  if (missing_) return 2;
  std::string data;
  if (!ReadFile(*csr_path, &data)) {
    err_ << "scepctl: cannot read " << *csr_path << "\n";
    return 2;
  }
  std::optional<std::string> der = CsrDer(data);
  if (!der.has_value()) {
    err_ << "scepctl: " << *csr_path << " is not a PEM certificate request\n";
    return 2;
  }
  v1::EnrollRequest request;
  request.set_profile(*profile);
  request.set_csr(*der);
  v1::EnrollResponse response;
  if (!Call([&](grpc::ClientContext* c) { return stub_.Enroll(c, request, &response); })) {
    return 1;
  }
  if (json_ && !args_.Has("out")) {
    PrintJson(response);
    return 0;
  }
  return Output(args_.GetOr("out", ""), Pem(response.certificate(), "CERTIFICATE"));
}

int Command::Profiles(bool list) {
  v1::ListProfilesResponse all;
  if (list) {
    if (!Call([&](grpc::ClientContext* c) {
          return stub_.ListProfiles(c, v1::ListProfilesRequest(), &all);
        })) {
      return 1;
    }
  } else {
    std::optional<std::string> profile = Required("profile");
    if (missing_) return 2;
    v1::GetProfileRequest request;
    request.set_name(*profile);
    if (!Call([&](grpc::ClientContext* c) {
          return stub_.GetProfile(c, request, all.add_profiles());
        })) {
      return 1;
    }
  }
  for (v1::Profile& p : *all.mutable_profiles()) {
    if (!json_) continue;
    p.clear_ca_certificate();  // scripts get it with mobileconfig or GetCACert
  }
  if (json_) {
    PrintJson(all);
    return 0;
  }
  out_ << "NAME\tTEMPLATE\tCHALLENGE\tAPPROVAL\tSUBJECT\n";
  for (const v1::Profile& p : all.profiles()) {
    std::vector<std::string> rdns;
    for (const v1::SubjectRdn& rdn : p.subject()) rdns.push_back(rdn.type() + "=" + rdn.value());
    out_ << p.name() << (p.is_default() ? " (default)" : "") << "\t"
         << (p.template_name().empty() ? "-" : p.template_name()) << "\t"
         << p.challenge_mode() << "\t" << p.approval() << "\t"
         << (rdns.empty() ? "(as requested)" : absl::StrJoin(rdns, ",")) << "\n";
  }
  return 0;
}

int Command::Mobileconfig() {
  std::optional<std::string> profile = Required("profile");
  std::optional<std::string> url = Required("url");
  if (missing_) return 2;
  MobileconfigOptions options;
  options.url = *url;
  options.challenge = args_.GetOr("challenge", "");
  options.identifier_prefix = args_.GetOr("identifier", options.identifier_prefix);
  for (const std::string& var : args_.GetAll("var")) {
    const size_t eq = var.find('=');
    if (eq == std::string::npos || eq == 0) {
      err_ << "scepctl: --var takes ATTR=VALUE\n";
      return 2;
    }
    options.variables[var.substr(0, eq)] = var.substr(eq + 1);
  }
  v1::GetProfileRequest request;
  request.set_name(*profile);
  v1::Profile response;
  if (!Call([&](grpc::ClientContext* c) { return stub_.GetProfile(c, request, &response); })) {
    return 1;
  }
  absl::StatusOr<std::string> plist = BuildMobileconfig(response, options);
  if (!plist.ok()) {
    err_ << "scepctl: " << plist.status().message() << "\n";
    return 1;
  }
  return Output(args_.GetOr("out", ""), *plist);
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
  return Command(args, stub, call, out, err).Run(VerbOf(args));
}

}  // namespace scep::scepctl
