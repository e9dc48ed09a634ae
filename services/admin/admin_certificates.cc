// AdminCore: certificate inventory, revocation, CRL and profile
// descriptions (for scepctl mobileconfig).

#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/codec/csr.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "services/admin/admin_core.h"
#include "services/gateway/crl_cache.h"
#include "services/gateway/crl_contents.h"
#include "services/gateway/profile_bounds.h"

namespace scep::admin {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
// Index pages read per ListCertificates call when filters drop entries.
constexpr int kMaxIndexReads = 8;

// Fills `out` from an index record, and `subject_utf8` (optional) with
// codec::SubjectUtf8Text of the subject; InvalidArgument when the stored
// DER does not parse.
absl::Status Describe(absl::string_view serial, const redis::CertificateRecord& record,
                      absl::Time now, v1::Certificate* out,
                      std::string* subject_utf8 = nullptr) {
  ASSIGN_OR_RETURN(crypto::X509Ptr cert,
                   crypto::FromDer<crypto::X509Ptr>(record.certificate, d2i_X509,
                                                    "stored certificate"));
  if (subject_utf8 != nullptr) {
    *subject_utf8 = codec::SubjectUtf8Text(X509_get_subject_name(cert.get()));
  }
  out->set_serial_hex(std::string(serial));
  out->set_profile(record.profile);
  out->set_issuing_ca(record.issuing_ca);
  out->set_subject(codec::SubjectText(X509_get_subject_name(cert.get())));
  out->set_issuer(codec::SubjectText(X509_get_issuer_name(cert.get())));
  out->set_not_before_unix(crypto::UnixSeconds(X509_get0_notBefore(cert.get())));
  out->set_not_after_unix(crypto::UnixSeconds(X509_get0_notAfter(cert.get())));
  out->set_sha256_fingerprint(crypto::Sha256Fingerprint(cert.get()));
  if (record.revoked) {
    out->set_status(v1::CERTIFICATE_STATUS_REVOKED);
    out->set_revocation_reason(record.reason);
    out->set_revoked_unix(absl::ToUnixSeconds(record.revoked_at));
  } else if (out->not_after_unix() < absl::ToUnixSeconds(now)) {
    out->set_status(v1::CERTIFICATE_STATUS_EXPIRED);
  } else {
    out->set_status(v1::CERTIFICATE_STATUS_VALID);
  }
  return absl::OkStatus();
}

// What ListCertificates compares subject_contains with: ASCII lower case,
// no space after ',' (RFC 2253 text has none; people type "CN=x, O=y").
std::string SubjectSearchForm(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == ' ' && !out.empty() && out.back() == ',') continue;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

absl::string_view ModeName(gateway::Profile::ChallengeMode mode) {
  switch (mode) {
    case gateway::Profile::ChallengeMode::kStatic: return "static";
    case gateway::Profile::ChallengeMode::kOneTime: return "one-time";
    case gateway::Profile::ChallengeMode::kExternal: return "external";
  }
  return "";
}

}  // namespace

absl::StatusOr<v1::RevokeCertificateResponse> AdminCore::RevokeCertificate(
    const v1::RevokeCertificateRequest& request, const std::string& actor) {
  // RFC 5280 section 5.3.1: 7 is unused; removeFromCRL (8) only in delta CRLs.
  if (request.reason() < 0 || request.reason() > 10 || request.reason() == 7 ||
      request.reason() == 8) {
    return absl::InvalidArgumentError("reason must be an RFC 5280 CRLReason (0-6, 9, 10)");
  }
  std::string serial = codec::SerialHexFromText(request.serial_hex());
  crypto::X509Ptr given;
  if (!request.certificate().empty()) {
    ASSIGN_OR_RETURN(given, crypto::CertificateFromDerOrPem(request.certificate()));
    const std::string its_serial = codec::SerialHex(X509_get0_serialNumber(given.get()));
    if (serial.empty()) serial = its_serial;
    if (serial != its_serial) {
      return absl::InvalidArgumentError("serial_hex is not the certificate's serial");
    }
  }
  RETURN_IF_ERROR(redis::ValidateSerialHex(serial));
  ASSIGN_OR_RETURN(std::optional<redis::CertificateRecord> record, deps_.index->Get(serial));
  v1::RevokeCertificateResponse response;
  response.set_serial_hex(serial);
  bool recorded_again = false;
  if (!record.has_value()) {
    if (given == nullptr) {
      return absl::NotFoundError(
          "no certificate with that serial (for one Redis lost, give the certificate "
          "itself: scepctl certs revoke --cert)");
    }
    ASSIGN_OR_RETURN(record, RecordLostCertificate(given.get(), request.profile()));
    recorded_again = true;
  }
  ASSIGN_OR_RETURN(redis::RevokeResult revoked,
                   deps_.index->Revoke(serial, request.reason(), absl::Now()));
  response.set_already_revoked(!revoked.newly_revoked);
  response.set_reason_changed(revoked.reason_changed);
  response.set_revocation_reason(revoked.reason);
  response.set_revoked_unix(absl::ToUnixSeconds(revoked.revoked_at));
  if (revoked.newly_revoked || revoked.reason_changed) {
    LogRecord line(LogLevel::kInfo, "audit");
    line.Str("action", "revoke")
        .Str("actor", actor)
        .Str("profile", record->profile)
        .Str("serial", serial)
        .Int("reason", request.reason())
        .Str("from", revoked.newly_revoked ? "VALID" : "REVOKED")
        .Str("to", "REVOKED")
        .Bool("recorded_again", recorded_again);
    // The reason it had (as read before; the date stays the first one's).
    if (revoked.reason_changed && record->revoked) {
      line.Int("previous_reason", record->reason);
    }
    Audit(std::move(line));
  }
  return response;
}

absl::StatusOr<v1::Certificate> AdminCore::GetCertificate(
    const v1::GetCertificateRequest& request, const std::string& actor) {
  const std::string serial = codec::SerialHexFromText(request.serial_hex());
  RETURN_IF_ERROR(redis::ValidateSerialHex(serial));
  ASSIGN_OR_RETURN(std::optional<redis::CertificateRecord> record, deps_.index->Get(serial));
  if (!record.has_value()) return absl::NotFoundError("no certificate with that serial");
  v1::Certificate out;
  RETURN_IF_ERROR(Describe(serial, *record, absl::Now(), &out));
  out.set_der(record->certificate);
  return out;
}

absl::StatusOr<v1::ListCertificatesResponse> AdminCore::ListCertificates(
    const v1::ListCertificatesRequest& request, const std::string& actor) {
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (page_size < 1 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError("page_size must be 0 to 1000");
  }
  // As ListRequests: a mistyped profile or a status this API does not
  // define is not "no certificates".
  if (!request.profile().empty()) {
    RETURN_IF_ERROR(FindProfile(request.profile(), absl::StatusCode::kNotFound).status());
  }
  if (!v1::CertificateStatus_IsValid(request.status())) {
    return absl::InvalidArgumentError("unknown status");
  }
  std::optional<bool> revoked;
  if (request.status() == v1::CERTIFICATE_STATUS_REVOKED) revoked = true;
  if (request.status() == v1::CERTIFICATE_STATUS_VALID ||
      request.status() == v1::CERTIFICATE_STATUS_EXPIRED) {
    revoked = false;
  }
  const std::string needle = SubjectSearchForm(request.subject_contains());
  const absl::Time now = absl::Now();
  v1::ListCertificatesResponse response;
  std::string token = request.page_token();
  // Never ask the index for more than still fits, so no entry is read and
  // then dropped for lack of room: the token resumes right after the last
  // entry looked at.
  for (int reads = 0; reads < kMaxIndexReads; ++reads) {
    const int room = page_size - response.certificates_size();
    ASSIGN_OR_RETURN(redis::CertificatePage page,
                     deps_.index->List(request.profile(), revoked, token, room));
    for (const redis::CertificateListing& listing : page.certificates) {
      v1::Certificate cert;
      std::string subject_utf8;
      if (!Describe(listing.serial_hex, listing.record, now, &cert,
                    needle.empty() ? nullptr : &subject_utf8)
               .ok()) {
        continue;
      }
      if (request.status() != v1::CERTIFICATE_STATUS_UNSPECIFIED &&
          cert.status() != request.status()) {
        continue;
      }
      // Either form: typed ("Jürgen") or copied from Certificate.subject.
      if (!needle.empty() &&
          !absl::StrContains(SubjectSearchForm(subject_utf8), needle) &&
          !absl::StrContains(SubjectSearchForm(cert.subject()), needle)) {
        continue;
      }
      *response.add_certificates() = std::move(cert);
    }
    token = page.next_page_token;
    if (token.empty() || response.certificates_size() == page_size) break;
  }
  response.set_next_page_token(token);
  return response;
}

absl::StatusOr<v1::GetCRLResponse> AdminCore::GetCrl(const v1::GetCRLRequest& request,
                                                     const std::string& actor) {
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.profile(), absl::StatusCode::kNotFound));
  ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(*profile));
  ASSIGN_OR_RETURN(gateway::SignedCrl crl,
                   gateway::CurrentCrl(*ca.signer, *ca.index, options_.crl_validity));
  v1::GetCRLResponse response;
  response.set_crl(*crl.der);
  return response;
}

absl::StatusOr<v1::RestoreRevocationsResponse> AdminCore::RestoreRevocations(
    const v1::RestoreRevocationsRequest& request, const std::string& actor) {
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.profile(), absl::StatusCode::kNotFound));
  ASSIGN_OR_RETURN(AdminCaDeps ca, CaOf(*profile));
  ASSIGN_OR_RETURN(std::shared_ptr<const gateway::CaSet> certificates, ca.ca->Get());
  ASSIGN_OR_RETURN(gateway::CrlContents crl,
                   gateway::ReadCrl(request.crl(), certificates->ca.get()));
  ASSIGN_OR_RETURN(int64_t restored, ca.index->RestoreRevoked(crl.revoked, crl.number));
  Audit(LogRecord(LogLevel::kInfo, "audit")
            .Str("action", "restore_revocations")
            .Str("actor", actor)
            .Str("profile", profile->name)
            .Int("crl_number", static_cast<int64_t>(crl.number))
            .Int("listed", static_cast<int64_t>(crl.revoked.size()))
            .Int("restored", restored));
  v1::RestoreRevocationsResponse response;
  response.set_listed(static_cast<int64_t>(crl.revoked.size()));
  response.set_restored(restored);
  response.set_crl_number(crl.number);
  return response;
}

absl::StatusOr<v1::Profile> AdminCore::ProfileInfo(const gateway::Profile& profile) const {
  v1::Profile out;
  out.set_name(profile.name);
  out.set_template_name(profile.template_name);
  out.set_certificate_type(
      profile.type == gateway::Profile::CertificateType::kUser ? "user" : "device");
  for (const auto& [type, value] : profile.subject) {
    v1::SubjectRdn* rdn = out.add_subject();
    rdn->set_type(type);
    rdn->set_value(value);
  }
  for (const std::string& ku : profile.key_usage) out.add_key_usage(ku);
  for (const std::string& eku : profile.extended_key_usage) out.add_extended_key_usage(eku);
  out.set_validity_days(profile.validity_days);
  out.set_min_rsa_bits(profile.min_rsa_bits);
  for (const std::string& type : profile.key_types) out.add_key_types(type);
  out.set_challenge_mode(std::string(ModeName(profile.challenge_mode)));
  out.set_approval(profile.approval == gateway::Profile::Approval::kManual ? "manual"
                                                                           : "automatic");
  out.set_is_default(&profile == &deps_.profiles->Default());
  out.set_issuing_ca(profile.issuing_ca);
  ASSIGN_OR_RETURN(AdminCaDeps deps, CaOf(profile));
  ASSIGN_OR_RETURN(std::shared_ptr<const gateway::CaSet> ca, deps.ca->Get());
  out.set_ca_certificate(ca->ca_der);
  out.set_ca_sha256(ca->ca_fingerprint);
  out.set_ca_not_after(crypto::UnixSeconds(X509_get0_notAfter(ca->ca.get())));
  out.set_ra_not_after(crypto::UnixSeconds(X509_get0_notAfter(ca->ra.get())));
  for (const std::string& uri : profile.crl_distribution_points) {
    out.add_crl_distribution_points(uri);
  }
  for (const std::string& uri : profile.ca_issuers) out.add_ca_issuers(uri);
  for (const std::string& uri : profile.ocsp_urls) out.add_ocsp_urls(uri);
  for (std::string& problem : gateway::ProfileOutsideBounds(profile, ca->bounds)) {
    out.add_outside_issuance_policy(std::move(problem));
  }
  if (!ca->chain.empty()) {
    X509* root = ca->chain.back().get();
    out.set_root_sha256(crypto::Sha256Fingerprint(root));
    ASSIGN_OR_RETURN(std::string root_der, crypto::ToDer(root, i2d_X509));
    out.set_root_certificate(std::move(root_der));
  }
  return out;
}

absl::StatusOr<AdminCaDeps> AdminCore::CaOf(const gateway::Profile& profile) const {
  if (profile.issuing_ca.empty()) {
    return AdminCaDeps{deps_.signer, deps_.index, deps_.issuer, deps_.ca};
  }
  auto it = deps_.issuing_cas.find(profile.issuing_ca);
  if (it == deps_.issuing_cas.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "profile '", profile.name, "': issuing CA '", profile.issuing_ca,
        "' is not configured"));
  }
  return it->second;
}

absl::StatusOr<v1::Profile> AdminCore::GetProfile(const v1::GetProfileRequest& request,
                                                  const std::string& actor) {
  ASSIGN_OR_RETURN(const gateway::Profile* profile,
                   FindProfile(request.name(), absl::StatusCode::kNotFound));
  return ProfileInfo(*profile);
}

absl::StatusOr<v1::ListProfilesResponse> AdminCore::ListProfiles(
    const v1::ListProfilesRequest& request, const std::string& actor) {
  v1::ListProfilesResponse response;
  for (const gateway::Profile& profile : deps_.profiles->All()) {
    ASSIGN_OR_RETURN(*response.add_profiles(), ProfileInfo(profile));
  }
  return response;
}

}  // namespace scep::admin
