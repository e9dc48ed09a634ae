#include "services/admin/admin_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace scep::admin {
namespace {

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::string();  // never equal to a real digest below
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

absl::StatusOr<AdminAuthenticator> AdminAuthenticator::New(AdminAuthOptions options) {
  if (options.token.empty() && !options.client_certificates) {
    return absl::FailedPreconditionError(
        "the admin API needs a bearer token or mutual TLS (a client CA)");
  }
  if (!options.token.empty() && Sha256(options.token).empty()) {
    return absl::InternalError("SHA-256 unavailable for the admin token");
  }
  return AdminAuthenticator(std::move(options));
}

AdminAuthenticator::AdminAuthenticator(AdminAuthOptions options)
    : client_certificates_(options.client_certificates),
      allowed_clients_(std::move(options.allowed_clients)),
      issued_to_device_(std::move(options.issued_to_device)),
      token_enabled_(!options.token.empty()),
      token_digest_(token_enabled_ ? Sha256(options.token) : std::string()) {}

// Comparing digests keeps the time independent of where the bytes differ
// and of the token's length.
bool AdminAuthenticator::TokenMatches(absl::string_view presented) const {
  const std::string digest = Sha256(presented);
  return token_enabled_ && digest.size() == token_digest_.size() &&
         CRYPTO_memcmp(digest.data(), token_digest_.data(), digest.size()) == 0;
}

absl::StatusOr<std::string> AdminAuthenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  std::optional<absl::string_view> authorization;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return Authenticate(authorization, auth.get());
}

absl::StatusOr<std::string> AdminAuthenticator::Authenticate(
    std::optional<absl::string_view> authorization,
    const grpc::AuthContext* auth_context) const {
  // Without a token configured a header proves nothing, so it decides
  // nothing: in a mutual-TLS-only setup a SCEP_ADMIN_TOKEN left in the
  // caller's environment must not shut out a valid client certificate.
  if (authorization.has_value() && token_enabled_) {
    absl::string_view value = absl::StripAsciiWhitespace(*authorization);
    constexpr absl::string_view kBearer = "bearer ";
    if (value.size() > kBearer.size() &&
        absl::StartsWithIgnoreCase(value, kBearer) &&
        TokenMatches(absl::StripLeadingAsciiWhitespace(value.substr(kBearer.size())))) {
      return std::string("token");
    }
    return absl::UnauthenticatedError("invalid bearer token");
  }
  if (client_certificates_ && auth_context != nullptr &&
      auth_context->IsPeerAuthenticated()) {
    return CertificateActor(*auth_context);
  }
  return absl::UnauthenticatedError(
      "admin API: send `authorization: Bearer <token>` or a client certificate");
}

absl::StatusOr<std::string> AdminAuthenticator::CertificateActor(
    const grpc::AuthContext& auth_context) const {
  if (issued_to_device_ != nullptr) {
    for (const grpc::string_ref& pem : auth_context.FindPropertyValues("x509_pem_cert")) {
      if (issued_to_device_(absl::string_view(pem.data(), pem.size()))) {
        return absl::PermissionDeniedError(
            "admin API: a certificate this service issued to a device is not an "
            "admin credential (use a client CA of its own)");
      }
    }
  }
  if (!allowed_clients_.empty()) {
    bool allowed = false;
    for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
      for (const grpc::string_ref& name : auth_context.FindPropertyValues(property)) {
        const absl::string_view value(name.data(), name.size());
        allowed = allowed || std::find(allowed_clients_.begin(), allowed_clients_.end(),
                                       value) != allowed_clients_.end();
      }
    }
    if (!allowed) {
      return absl::PermissionDeniedError(
          "admin API: client certificate not on --admin_tls_allowed_clients");
    }
  }
  // The subject CN names the operator or service; the TLS peer identity
  // (a SAN) when the certificate has no CN.
  for (const std::vector<grpc::string_ref>& values :
       {auth_context.FindPropertyValues("x509_common_name"),
        auth_context.GetPeerIdentity()}) {
    if (!values.empty() && !values.front().empty()) {
      return std::string(values.front().data(), values.front().size());
    }
  }
  return std::string("client-certificate");
}

}  // namespace scep::admin
