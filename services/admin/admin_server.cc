#include "services/admin/admin_server.h"

#include <grpcpp/resource_quota.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/rpc/message_limits.h"

namespace scep::admin {
namespace {

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError("cannot read admin token file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(ss.str()));
  if (token.empty()) {
    return absl::FailedPreconditionError("admin token file " + path + " is empty");
  }
  return token;
}

// TLS from watched files (rotation without restart), verifying client
// certificates when a client CA is given: required when they are the only
// credential, asked for when a bearer token may stand in for one (either
// credential then gets in); plaintext without TLS files (then only a
// bearer token authenticates).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const AdminServerOptions& o) {
  const bool tls = !o.tls_cert.empty() || !o.tls_key.empty() || !o.tls_client_ca.empty();
  if (!tls) return grpc::InsecureServerCredentials();
  if (o.tls_cert.empty() || o.tls_key.empty()) {
    return absl::FailedPreconditionError(
        "admin TLS needs both a certificate and a key (and a client CA for mutual TLS)");
  }
  for (const std::string& path : {o.tls_cert, o.tls_key, o.tls_client_ca}) {
    if (!path.empty() && !std::ifstream(path)) {
      return absl::FailedPreconditionError("cannot read admin TLS file " + path);
    }
  }
  const auto refresh =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(o.tls_refresh)));
  auto provider =
      o.tls_client_ca.empty()
          ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                o.tls_key, o.tls_cert, refresh)
          : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                o.tls_key, o.tls_cert, o.tls_client_ca, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (o.tls_client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        o.token_file.empty() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                             : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

// host:port as gRPC reads it: an IPv6 literal in brackets ("[::1]:9443";
// "::1:9443" is no address).
std::string ListenAddress(const std::string& address, int port) {
  if (address.find(':') != std::string::npos && !absl::StartsWith(address, "[")) {
    return absl::StrCat("[", address, "]:", port);
  }
  return absl::StrCat(address, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    const AdminServerOptions& options, AdminOptions admin_options, AdminDeps deps) {
  AdminAuthOptions auth_options;
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(auth_options.token, ReadToken(options.token_file));
  }
  auth_options.client_certificates = !options.tls_client_ca.empty();
  auth_options.allowed_clients = options.allowed_clients;
  auth_options.issued_to_device = options.issued_to_device;
  ASSIGN_OR_RETURN(AdminAuthenticator auth, AdminAuthenticator::New(auth_options));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   Credentials(options));
  std::unique_ptr<AdminServer> server(new AdminServer(
      admin_options, deps, std::move(auth), std::max(1, options.workers)));
  server->tls_ = !options.tls_cert.empty();
  server->mutual_tls_ = auth_options.client_certificates;
  grpc::ServerBuilder builder;
  // RestoreRevocations takes a whole CRL (5.4 MB at 150,000 revocations).
  builder.SetMaxReceiveMessageSize(rpc::kMaxAdminMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             rpc::kMaxAdminStreamsPerConnection);
  grpc::ResourceQuota quota("scep-admin");
  quota.Resize(rpc::kAdminMemoryQuotaBytes);
  builder.SetResourceQuota(quota);
  const std::string listen = ListenAddress(options.address, options.port);
  builder.AddListeningPort(listen, credentials, &server->port_);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    server->stopped_ = true;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen for the admin API on ", listen));
  }
  return server;
}

AdminServer::AdminServer(AdminOptions admin_options, AdminDeps deps,
                         AdminAuthenticator auth, int workers)
    : core_(admin_options, deps),
      auth_(std::move(auth)),
      calls_(deps.audit, deps.metrics),
      service_(&core_, &auth_, &calls_, workers) {}

AdminServer::~AdminServer() { Shutdown(); }

void AdminServer::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

}  // namespace scep::admin
