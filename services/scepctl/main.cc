// scepctl: command-line client of the admin API (scep.admin.v1). Parses
// the command line, builds the channel, and hands over to commands.cc.

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/base/process.h"
#include "common/rpc/message_limits.h"
#include "services/scepctl/cli_args.h"
#include "services/scepctl/commands.h"
#include "services/scepctl/token_transport.h"

namespace {

bool ReadFile(const std::string& path, std::string* data) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *data = ss.str();
  return true;
}

// TLS when --tls-ca is given (mutual with --tls-cert/--tls-key), else
// plaintext (loopback, or a TLS-terminating proxy in front with
// --insecure: CheckTokenTransport).
std::shared_ptr<grpc::ChannelCredentials> Credentials(const scep::scepctl::CliArgs& args,
                                                      std::string* error) {
  if (!args.Has("tls-ca")) {
    if (args.Has("tls-cert") || args.Has("tls-key")) {
      *error = "--tls-cert and --tls-key need --tls-ca";
      return nullptr;
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  for (const auto& [flag, field] :
       {std::pair{"tls-ca", &options.pem_root_certs},
        std::pair{"tls-cert", &options.pem_cert_chain},
        std::pair{"tls-key", &options.pem_private_key}}) {
    if (!args.Has(flag)) continue;
    if (!ReadFile(args.GetOr(flag, ""), field)) {
      *error = std::string("cannot read --") + flag;
      return nullptr;
    }
  }
  if (options.pem_cert_chain.empty() != options.pem_private_key.empty()) {
    *error = "--tls-cert and --tls-key go together";
    return nullptr;
  }
  return grpc::SslCredentials(options);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil tracks lock order on every absl::Mutex (gRPC, libp11
  // callers) and aborts on a suspected cycle: off, as in the services.
  scep::base::DisableMutexDeadlockDetection();
  absl::StatusOr<scep::scepctl::CliArgs> args =
      scep::scepctl::ParseCliArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!args.ok()) {
    std::cerr << "scepctl: " << args.status().message() << "\n";
    return 2;
  }
  if (std::optional<int> status = scep::scepctl::HandleUsage(*args, std::cout, std::cerr)) {
    return *status;
  }
  scep::scepctl::CallOptions call;
  if (args->Has("token-file")) {
    std::string token;
    if (!ReadFile(args->GetOr("token-file", ""), &token)) {
      std::cerr << "scepctl: cannot read --token-file\n";
      return 2;
    }
    call.token = std::string(absl::StripAsciiWhitespace(token));
  } else if (const char* env = std::getenv("SCEP_ADMIN_TOKEN"); env != nullptr) {
    call.token = std::string(absl::StripAsciiWhitespace(env));
  }
  if (args->Has("timeout")) {
    absl::StatusOr<int64_t> seconds =
        scep::scepctl::ParseDurationSeconds(args->GetOr("timeout", ""));
    if (!seconds.ok()) {
      std::cerr << "scepctl: --timeout: " << seconds.status().message() << "\n";
      return 2;
    }
    call.timeout_seconds = *seconds;
  }
  const char* env_server = std::getenv("SCEP_ADMIN_SERVER");
  const std::string server =
      args->GetOr("server", env_server != nullptr ? env_server : "127.0.0.1:9443");
  if (absl::Status in_clear = scep::scepctl::CheckTokenTransport(*args, server,
                                                                 !call.token.empty());
      !in_clear.ok()) {
    std::cerr << "scepctl: " << in_clear.message() << "\n";
    return 2;
  }
  std::string error;
  std::shared_ptr<grpc::ChannelCredentials> credentials = Credentials(*args, &error);
  if (credentials == nullptr) {
    std::cerr << "scepctl: " << error << "\n";
    return 2;
  }
  grpc::ChannelArguments channel_args;
  // `scepctl crl` gets the whole CRL (5.4 MB at 150,000 revocations).
  channel_args.SetMaxReceiveMessageSize(scep::rpc::kMaxAdminMessageBytes);
  if (args->Has("tls-server-name")) {
    channel_args.SetSslTargetNameOverride(args->GetOr("tls-server-name", ""));
  }
  std::unique_ptr<scep::admin::v1::Admin::Stub> stub = scep::admin::v1::Admin::NewStub(
      grpc::CreateCustomChannel(server, credentials, channel_args));
  return scep::scepctl::RunCommand(*args, *stub, call, std::cout, std::cerr);
}
