#ifndef SCEP_SERVICES_SCEPCTL_COMMAND_CONTEXT_H_
#define SCEP_SERVICES_SCEPCTL_COMMAND_CONTEXT_H_

#include <google/protobuf/message.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scep/admin/v1/admin.grpc.pb.h"
#include "services/scepctl/cli_args.h"
#include "services/scepctl/commands.h"

// Machinery shared by the scepctl verbs (requests_commands.cc,
// certs_commands.cc, profile_commands.cc). Not part of the public API:
// commands.h is.
namespace scep::scepctl::internal {

// Exit statuses, as documented on RunCommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the server refused or failed
inline constexpr int kExitUsage = 2;

using AdminStub = admin::v1::Admin::StubInterface;

// A unary method of the admin stub, e.g. &AdminStub::GetCRL.
template <typename Request, typename Response>
using AdminRpc = grpc::Status (AdminStub::*)(grpc::ClientContext*, const Request&, Response*);

// Everything one verb needs: the command line, the stub, and the two
// output streams. Lives for one RunCommand; not thread-safe.
class CommandContext {
 public:
  // All references must outlive the context.
  CommandContext(const CliArgs& args, AdminStub& stub, const CallOptions& call,
                 std::ostream& out, std::ostream& err);

  const CliArgs& args() const { return args_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  bool json() const { return json_; }

  // Makes one call of `rpc` with the bearer token and deadline. On failure
  // prints "scepctl: CODE: message" to err and returns false.
  template <typename Request, typename Response>
  bool Call(AdminRpc<Request, Response> rpc, const Request& request, Response* response) {
    return CallWithContext(
        [&](grpc::ClientContext* context) { return (stub_.*rpc)(context, request, response); });
  }

  // Prints `response` as one line of JSON with --json, else calls
  // text(out, response). Returns kExitOk.
  template <typename Response, typename Text>
    requires std::invocable<Text&, std::ostream&, const Response&>
  int Reply(const Response& response, Text text) {
    if (json_) {
      PrintJson(response);
    } else {
      text(out_, response);
    }
    return kExitOk;
  }

  // Call, then Reply: the shape of every verb whose output is the one
  // response. kExitFailed when the call fails.
  template <typename Request, typename Response, typename Text>
  int CallAndReply(AdminRpc<Request, Response> rpc, const Request& request, Text text) {
    Response response;
    if (!Call(rpc, request, &response)) return kExitFailed;
    return Reply(response, std::move(text));
  }

  // Writes `message` to out as compact JSON and a newline: proto3's JSON
  // mapping with every field present (zero values included).
  void PrintJson(const google::protobuf::Message& message);

  // The value of --name. When it is missing or empty, prints "--name is
  // required" to err and sets missing(), so a verb can report every
  // missing flag before it returns kExitUsage.
  std::optional<std::string> Required(absl::string_view name);
  bool missing() const { return missing_; }

  // The value of --page-size (0, the server's default, when absent), or
  // nullopt after printing a usage error when it is not a number.
  std::optional<int> PageSize();

  // Writes `data` to `path` ("" or "-": out). kExitFailed, with a message
  // on err, when the file cannot be written.
  int Output(const std::string& path, const std::string& data);

  // Output for data that may carry a secret (a .mobileconfig's challenge):
  // the file is readable by its owner only (0600, an existing file's mode
  // changed before anything is written), whatever the umask.
  int OutputPrivate(const std::string& path, const std::string& data);

 private:
  bool CallWithContext(const std::function<grpc::Status(grpc::ClientContext*)>& rpc);

  const CliArgs& args_;
  AdminStub& stub_;
  const CallOptions& call_;
  std::ostream& out_;
  std::ostream& err_;
  const bool json_;
  bool missing_ = false;
};

// Lower-case hex of `bytes`.
std::string Hex(absl::string_view bytes);

// `bytes` as is when every byte is printable, else "hex:" and the hex
// (transaction IDs are usually hex or base64 but may be any bytes; one
// that itself begins "hex:" or "b64:" is given as hex too);
// `requests approve|reject --tid` accept the same form back.
std::string Printable(absl::string_view bytes);

// RFC 3339 UTC time of `unix_seconds`; "-" for 0 (unset).
std::string Date(int64_t unix_seconds);

// `der` PEM-armoured under `label` ("CERTIFICATE", "X509 CRL").
std::string Pem(absl::string_view der, absl::string_view label);

// The whole of the file at `path`; false when it cannot be read.
bool ReadFile(const std::string& path, std::string* data);

// DER of a certificate request given as PEM or DER; InvalidArgument
// (naming what is wrong) for anything else.
absl::StatusOr<std::string> CsrDer(const std::string& data);

// An RFC 5280 CRLReason by number or case-insensitive name
// ("keyCompromise"); nullopt when unknown.
std::optional<int> ParseReason(const std::string& text);

}  // namespace scep::scepctl::internal

#endif  // SCEP_SERVICES_SCEPCTL_COMMAND_CONTEXT_H_
