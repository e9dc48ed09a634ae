#include "services/scepctl/command_context.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"

namespace scep::scepctl::internal {
namespace {

// gRPC and absl codes are numerically identical; absl has the names.
std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace

CommandContext::CommandContext(const CliArgs& args, AdminStub& stub, const CallOptions& call,
                               std::ostream& out, std::ostream& err)
    : args_(args), stub_(stub), call_(call), out_(out), err_(err), json_(args.Has("json")) {}

bool CommandContext::CallWithContext(
    const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
  grpc::ClientContext context;
  if (!call_.token.empty()) context.AddMetadata("authorization", "Bearer " + call_.token);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(call_.timeout_seconds));
  grpc::Status status = rpc(&context);
  if (!status.ok()) {
    err_ << "scepctl: " << CodeName(status.error_code()) << ": " << status.error_message()
         << "\n";
  }
  return status.ok();
}

void CommandContext::PrintJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  // A stable shape for scripts: every field whatever its value (reason 0,
  // false, "", an empty list), not only those set. 64-bit integers stay
  // JSON strings, proto3's mapping (usage.cc documents it).
  options.always_print_primitive_fields = true;
  // Ignored on purpose: admin.proto has no Any fields, whose type lookup is
  // what makes printing fail.
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  out_ << text << "\n";
}

std::optional<std::string> CommandContext::Required(absl::string_view name) {
  std::optional<std::string> value = args_.Get(name);
  if (!value.has_value() || value->empty()) {
    err_ << "scepctl: --" << name << " is required\n";
    missing_ = true;
  }
  return value;
}

std::optional<int> CommandContext::PageSize() {
  int page_size = 0;
  if (args_.Has("page-size") && !absl::SimpleAtoi(args_.GetOr("page-size", ""), &page_size)) {
    err_ << "scepctl: --page-size must be a number\n";
    return std::nullopt;
  }
  return page_size;
}

int CommandContext::Output(const std::string& path, const std::string& data) {
  if (path.empty() || path == "-") {
    out_ << data;
    return kExitOk;
  }
  std::ofstream file(path, std::ios::binary);
  file << data;
  if (!file) {
    err_ << "scepctl: cannot write " << path << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

int CommandContext::OutputPrivate(const std::string& path, const std::string& data) {
  if (path.empty() || path == "-") return Output(path, data);
  // O_CREAT's mode covers a new file only; fchmod narrows an existing one
  // before the secret is in it.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int error = fd < 0 || fchmod(fd, 0600) != 0 ? errno : 0;
  for (size_t done = 0; error == 0 && done < data.size();) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0 || errno != EINTR) {
      error = n == 0 ? EIO : errno;
    }
  }
  if (fd >= 0 && close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    err_ << "scepctl: cannot write " << path << ": " << std::strerror(error) << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

std::string Printable(absl::string_view bytes) {
  if (absl::StartsWith(bytes, "hex:") || absl::StartsWith(bytes, "b64:")) {
    return "hex:" + Hex(bytes);
  }
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

absl::StatusOr<std::string> CsrDer(const std::string& data) {
  absl::StatusOr<crypto::X509ReqPtr> req = crypto::CsrFromDerOrPem(data);
  if (!req.ok()) return req.status();
  return crypto::ToDer(req->get(), i2d_X509_REQ);
}

std::optional<int> ParseReason(const std::string& text) {
  // RFC 5280 section 5.3.1; 7 is unused and 8 (removeFromCRL) is CRL-only.
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

}  // namespace scep::scepctl::internal
