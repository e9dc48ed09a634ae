#ifndef SCEP_SERVICES_ADMIN_ADMIN_SERVER_H_
#define SCEP_SERVICES_ADMIN_ADMIN_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/admin/admin_auth.h"
#include "services/admin/admin_call_log.h"
#include "services/admin/admin_core.h"
#include "services/admin/admin_service.h"

namespace scep::admin {

struct AdminServerOptions {
  std::string address = "127.0.0.1";  // IPv6 with or without brackets
  int port = 9443;  // 0: any free port (tests)
  // File holding the bearer token (whitespace around it is ignored).
  std::string token_file;
  // TLS server certificate and key (PEM); with `tls_client_ca`, a client
  // certificate it issued authenticates a caller (mutual TLS): required
  // without a token file, else either credential gets in. Files are
  // watched and reloaded on change.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // AdminAuthOptions::allowed_clients and ::issued_to_device.
  std::vector<std::string> allowed_clients;
  std::function<bool(absl::string_view pem)> issued_to_device;
  absl::Duration tls_refresh = absl::Seconds(60);
  int workers = 4;
};

// The admin gRPC server: AdminCore + authentication + credentials.
class AdminServer {
 public:
  // FailedPrecondition (fatal at start-up) when neither a token nor mutual
  // TLS is configured, when only one of tls_cert/tls_key is set, when a file
  // cannot be read or the token file is empty, or when the port cannot be
  // bound. Serving when this returns.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      const AdminServerOptions& options, AdminOptions admin_options, AdminDeps deps);

  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return tls_; }
  bool mutual_tls() const { return mutual_tls_; }

  // Stops accepting, finishes calls in flight (cancelling them after
  // `grace`). Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  AdminServer(AdminOptions admin_options, AdminDeps deps, AdminAuthenticator auth,
              int workers);

  AdminCore core_;
  AdminAuthenticator auth_;
  AdminCallLog calls_;
  AdminService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool tls_ = false;
  bool mutual_tls_ = false;
  bool stopped_ = false;
};

}  // namespace scep::admin

#endif  // SCEP_SERVICES_ADMIN_ADMIN_SERVER_H_
