#ifndef SCEP_SERVICES_ADMIN_ADMIN_AUTH_H_
#define SCEP_SERVICES_ADMIN_ADMIN_AUTH_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::admin {

// Who may call the admin API. At least one way must be enabled.
struct AdminAuthOptions {
  // Accepted bearer token (`authorization: Bearer <token>`); "" = tokens
  // are refused. Secret: never logged.
  std::string token;
  // Accept callers whose client certificate the TLS layer verified
  // (mutual TLS with a client CA).
  bool client_certificates = false;
  // Names (subject CN, or a DNS, URI or email subjectAltName) of the client
  // certificates let in; empty: any the client CA verified.
  std::vector<std::string> allowed_clients;
  // True for a peer certificate (PEM) one of this service's issuing CAs
  // issued (a device's): never an admin credential, whatever the client CA
  // (the issuing CA itself, or a root above it). Null: no such check.
  std::function<bool(absl::string_view pem)> issued_to_device;
};

// Authenticates each admin call and names its actor for the audit log.
// Thread-safe.
class AdminAuthenticator {
 public:
  // FailedPrecondition when neither a token nor client certificates are
  // enabled.
  static absl::StatusOr<AdminAuthenticator> New(AdminAuthOptions options);

  // The actor: "token" for a valid bearer token, the client certificate's
  // subject CN (or TLS peer identity) for a verified client certificate.
  // With a token configured, a call carrying an authorization header is
  // judged by it alone; without one, the header is ignored. Unauthenticated
  // otherwise; the message never echoes what was sent. PermissionDenied for
  // a verified certificate not on allowed_clients or issued_to_device.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& context) const;

  // The same over the call's parts: the `authorization` metadata value (if
  // any) and the transport's AuthContext (may be null).
  absl::StatusOr<std::string> Authenticate(
      std::optional<absl::string_view> authorization,
      const grpc::AuthContext* auth_context) const;

 private:
  explicit AdminAuthenticator(AdminAuthOptions options);

  bool TokenMatches(absl::string_view presented) const;

  absl::StatusOr<std::string> CertificateActor(const grpc::AuthContext& auth_context) const;

  bool client_certificates_;
  std::vector<std::string> allowed_clients_;
  std::function<bool(absl::string_view pem)> issued_to_device_;
  bool token_enabled_;
  std::string token_digest_;  // SHA-256 of the token
};

}  // namespace scep::admin

#endif  // SCEP_SERVICES_ADMIN_ADMIN_AUTH_H_
