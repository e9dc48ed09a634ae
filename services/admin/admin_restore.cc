// Disaster recovery for the certificate index: certificates Redis lost,
// recorded again (from the signer's audit trail, or one at a time to
// revoke them).

#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "services/admin/admin_core.h"

namespace scep::admin {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;

constexpr int kMaxRestoredPerCall = 1000;

// What is wrong with one certificate of a RestoreCertificates call, as
// opposed to what stops the call (Redis or the CA store unavailable).
bool RefusesOneCertificate(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kNotFound ||
         status.code() == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

absl::StatusOr<const gateway::Profile*> AdminCore::IssuedUnder(
    X509* cert, const std::string& profile_name) const {
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(profile_name, absl::StatusCode::kNotFound));
  ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(*profile));
  ASSIGN_OR_RETURN(std::shared_ptr<const gateway::CaSet> certificates, ca.ca->Get());
  X509* issuer = certificates->ca.get();
  if (X509_check_issued(issuer, cert) != X509_V_OK ||
      X509_verify(cert, X509_get0_pubkey(issuer)) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate was not issued by the CA of profile ", profile->name));
  }
  return profile;
}

absl::StatusOr<redis::CertificateRecord> AdminCore::RecordLostCertificate(
    X509* cert, const std::string& profile_name) {
  ASSIGN_OR_RETURN(const gateway::Profile* profile, IssuedUnder(cert, profile_name));
  ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(*profile));
  return ca.issuer->RecordAgain(*profile, cert);
}

absl::StatusOr<v1::RestoreCertificatesResponse> AdminCore::RestoreCertificates(
    const v1::RestoreCertificatesRequest& request, const std::string& actor) {
  if (request.certificates_size() > kMaxRestoredPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxRestoredPerCall, " certificates a call"));
  }
  v1::RestoreCertificatesResponse response;
  const absl::Time now = absl::Now();
  for (int i = 0; i < request.certificates_size(); ++i) {
    const v1::RestoreCertificatesRequest::Entry& entry = request.certificates(i);
    const auto refuse = [&](absl::string_view serial, const absl::Status& why) {
      response.add_refused(absl::StrCat("certificate ", i,
                                        serial.empty() ? "" : absl::StrCat(" (serial ", serial, ")"),
                                        ": ", why.message()));
    };
    absl::StatusOr<crypto::X509Ptr> cert = crypto::CertificateFromDerOrPem(entry.certificate());
    if (!cert.ok()) {
      refuse("", cert.status());
      continue;
    }
    const std::string serial = codec::SerialHex(X509_get0_serialNumber(cert->get()));
    absl::StatusOr<const gateway::Profile*> profile = IssuedUnder(cert->get(), entry.profile());
    if (!profile.ok()) {
      if (!RefusesOneCertificate(profile.status())) return profile.status();
      refuse(serial, profile.status());
      continue;
    }
    const absl::Time not_after =
        absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert->get())));
    if (not_after + options_.index_grace < now) {
      response.set_expired(response.expired() + 1);
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<redis::CertificateRecord> known, deps_.index->Get(serial));
    if (known.has_value()) {
      response.set_indexed(response.indexed() + 1);
      continue;
    }
    ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(**profile));
    ASSIGN_OR_RETURN(redis::CertificateRecord recorded,
                     ca.issuer->RecordAgain(**profile, cert->get()));
    if (recorded.revoked) {
      response.set_revoked(response.revoked() + 1);
    } else {
      response.set_restored(response.restored() + 1);
    }
  }
  Audit(LogRecord(LogLevel::kInfo, "audit")
            .Str("action", "restore_certificates")
            .Str("actor", actor)
            .Int("given", request.certificates_size())
            .Int("restored", response.restored())
            .Int("indexed", response.indexed())
            .Int("revoked", response.revoked())
            .Int("expired", response.expired())
            .Int("refused", response.refused_size()));
  return response;
}

}  // namespace scep::admin
