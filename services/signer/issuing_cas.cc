#include "services/signer/issuing_cas.h"

#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/codec/csr.h"
#include "common/crypto/ca_chain.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "services/signer/issuance_policy_file.h"
#include "services/signer/key_access.h"
#include "services/signer/previous_ca_key.h"
#include "services/signer/previous_ra.h"
#include "services/signer/timed_key_access.h"

namespace scep::signer {
namespace {

using metrics::LogLevel;
using metrics::LogRecord;

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
}

// Publishes `cert`'s notAfter and warns in the log when it is near or past:
// an expired RA certificate stops every enrollment (devices refuse its
// CertReps), an expired CA certificate every chain.
void ReportExpiry(metrics::JsonLogger& log, SignerMetrics& metrics, const std::string& ca,
                  const char* role, X509* cert) {
  const absl::Time not_after =
      absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(cert)));
  metrics.CertificateExpiry(ca, role, not_after);
  const double days = absl::ToDoubleHours(not_after - absl::Now()) / 24;
  if (days >= 30) return;
  log.Log(LogRecord(days < 0 ? LogLevel::kError : LogLevel::kWarning,
                    days < 0 ? "certificate_expired" : "certificate_expires_soon")
              .Str("ca", ca)
              .Str("role", role)
              .Str("not_after", Rfc3339(not_after))
              .Num("days_left", days));
}

absl::Status Named(const IssuingCaFiles& files, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("issuing CA '", files.name, "': ", status.message()));
}

}  // namespace

absl::StatusOr<IssuingCas> OpenIssuingCas(const std::vector<IssuingCaFiles>& ca_files,
                                          const IssuingCaKeys& keys,
                                          const IssuingCaDefaults& defaults,
                                          SignerMetrics& metrics, metrics::JsonLogger& log) {
  IssuingCas out;
  for (const IssuingCaFiles& files : ca_files) {
    absl::StatusOr<crypto::X509Ptr> ca_cert = crypto::LoadCertificateFile(files.ca_cert);
    if (!ca_cert.ok()) return ca_cert.status();
    absl::StatusOr<crypto::X509Ptr> ra_cert = crypto::LoadCertificateFile(files.ra_cert);
    if (!ra_cert.ok()) return ra_cert.status();
    if (files.name.empty()) out.default_ca_sha256 = crypto::Sha256Fingerprint(ca_cert->get());
    SignerOptions options;
    options.default_validity_days = defaults.validity_days;
    options.default_digest = defaults.digest;
    if (auto policy = defaults.policies.find(files.name); policy != defaults.policies.end()) {
      options.issuance_policy = policy->second;
    }
    const std::string policy_text = DescribeIssuancePolicy(options.issuance_policy);
    if (files.name.empty() && !defaults.next_ca_cert.empty()) {
      absl::StatusOr<crypto::X509Ptr> next = crypto::LoadCertificateFile(defaults.next_ca_cert);
      if (!next.ok()) return next.status();
      options.next_ca_certificate = *std::move(next);
    }
    if (files.name.empty() && !defaults.next_ra_cert.empty()) {
      absl::StatusOr<crypto::X509Ptr> next_ra =
          crypto::LoadCertificateFile(defaults.next_ra_cert);
      if (!next_ra.ok()) return next_ra.status();
      options.next_ra_certificate = *std::move(next_ra);
    }
    // A CA under another root: its chain beside it (scep-provision
    // --import-ca writes ca-chain.pem), checked by SignerCore::New.
    const std::string chain_path =
        (std::filesystem::path(files.ca_cert).parent_path() / "ca-chain.pem").string();
    std::error_code no_chain;
    if (std::filesystem::exists(chain_path, no_chain)) {
      absl::StatusOr<std::vector<crypto::X509Ptr>> chain =
          crypto::LoadCertificateChainFile(chain_path);
      if (!chain.ok()) return Named(files, chain.status());
      options.ca_chain = *std::move(chain);
    }
    // After a CA rollover: the CA certificates this one replaced
    // (ca-previous.pem beside it, one or more), whose certificates still
    // authenticate renewals (README "CA rollover").
    const std::string previous_path =
        (std::filesystem::path(files.ca_cert).parent_path() / "ca-previous.pem").string();
    std::error_code no_previous;
    if (std::filesystem::exists(previous_path, no_previous)) {
      absl::StatusOr<std::vector<crypto::X509Ptr>> previous =
          crypto::LoadCertificateChainFile(previous_path);
      if (!previous.ok()) return Named(files, previous.status());
      options.previous_ca_certificates = *std::move(previous);
    }
    // Each previous CA certificate's key, found in the token by its public
    // key, signs the CRLs and OCSP answers of the certificates it issued.
    std::vector<LogRecord> previous_cas;  // logged once the core accepted them
    std::vector<std::pair<std::string, std::string>> previous_keys;  // sha256, label
    for (const crypto::X509Ptr& cert : options.previous_ca_certificates) {
      const std::string subject = codec::SubjectUtf8Text(X509_get_subject_name(cert.get()));
      const std::string fingerprint = crypto::Sha256Fingerprint(cert.get());
      absl::StatusOr<std::string> label = FindKeyLabelOf(*keys.ca_token, cert.get());
      if (label.ok()) {
        previous_keys.emplace_back(crypto::CertificateSha256(cert.get()), *label);
      } else {
        previous_cas.push_back(
            LogRecord(LogLevel::kWarning, "previous_ca_key_missing")
                .Str("ca", files.name.empty() ? "default" : files.name)
                .Str("subject", subject)
                .Str("sha256", fingerprint)
                .Str("key_id", crypto::CaKeyId(cert.get()))
                .Str("error", std::string(label.status().message()))
                .Str("note", "its certificates still renew; no CRL or OCSP answer is "
                             "signed for them"));
      }
      previous_cas.push_back(
          LogRecord(LogLevel::kInfo, "previous_ca_accepted")
              .Str("ca", files.name.empty() ? "default" : files.name)
              .Str("certificate", previous_path)
              .Str("subject", subject)
              .Str("sha256", fingerprint)
              .Str("key_id", crypto::CaKeyId(cert.get()))
              .Str("key", label.ok() ? "token:" + *label : "")
              .Str("not_after", Rfc3339(absl::FromUnixSeconds(
                                    crypto::UnixSeconds(X509_get0_notAfter(cert.get()))))));
    }
    const size_t chain_length = options.ca_chain.size();
    const std::string ca_name = files.name.empty() ? "default" : files.name;
    for (const auto& [role, cert] :
         {std::pair<const char*, X509*>{"ca", ca_cert->get()},
          std::pair<const char*, X509*>{"ra", ra_cert->get()},
          std::pair<const char*, X509*>{"next_ca", options.next_ca_certificate.get()},
          std::pair<const char*, X509*>{"next_ra", options.next_ra_certificate.get()}}) {
      if (cert != nullptr) ReportExpiry(log, metrics, ca_name, role, cert);
    }
    // The chain above a CA under another root: its first certificate to
    // expire (an expired intermediate or root fails every chain too).
    X509* first_to_expire = nullptr;
    for (const crypto::X509Ptr& cert : options.ca_chain) {
      if (first_to_expire == nullptr ||
          ASN1_TIME_compare(X509_get0_notAfter(cert.get()),
                            X509_get0_notAfter(first_to_expire)) < 0) {
        first_to_expire = cert.get();
      }
    }
    if (first_to_expire != nullptr) ReportExpiry(log, metrics, ca_name, "chain", first_to_expire);
    // Metric key names stay bounded: "ca"/"ra", or "ca-NAME"/"ra-NAME".
    const std::string suffix = files.name.empty() ? "" : "-" + files.name;
    std::unique_ptr<KeyAccess> ra_key;
    if (files.ra_key_file.empty()) {
      ra_key = NewTimedKeyAccess(NewTokenKey(keys.ra_token, keys.ra_token_label,
                                             files.ra_key_label),
                                 "ra" + suffix, &metrics);
    } else {
      absl::StatusOr<std::unique_ptr<KeyAccess>> file_key = NewKeyFromFile(files.ra_key_file);
      if (!file_key.ok()) return file_key.status();
      ra_key = *std::move(file_key);
      struct stat st {};
      if (stat(files.ra_key_file.c_str(), &st) == 0 && (st.st_mode & S_IRWXO) != 0) {
        log.Log(LogRecord(LogLevel::kWarning, "ra_key_file_permissions")
                    .Str("path", files.ra_key_file)
                    .Str("note", "readable or writable by any user; chmod o-rwx"));
      }
    }
    absl::StatusOr<std::unique_ptr<SignerCore>> core = SignerCore::New(
        std::move(options),
        NewTimedKeyAccess(NewTokenKey(keys.ca_token, files.ca_key_label), "ca" + suffix,
                          &metrics),
        *std::move(ca_cert), std::move(ra_key), *std::move(ra_cert));
    if (!core.ok()) return Named(files, core.status());
    for (const auto& [sha256, label] : previous_keys) {
      absl::Status accepted = (*core)->AcceptPreviousCaKey(
          sha256, NewTimedKeyAccess(NewTokenKey(keys.ca_token, label), "ca_previous" + suffix,
                                    &metrics));
      if (!accepted.ok()) return Named(files, accepted);
    }
    // After an RA renewal or key rollover, requests still encrypted to the
    // previous RA certificate decrypt (README "Certificate expiry, RA
    // certificate renewal and RA key rollover").
    absl::StatusOr<std::optional<PreviousRa>> previous = AcceptPreviousRaOf(
        **core, files, keys.ra_token, keys.ra_token_label, &metrics, "ra_previous" + suffix);
    if (!previous.ok()) {
      log.Log(LogRecord(LogLevel::kWarning, "previous_ra_unusable")
                  .Str("ca", ca_name)
                  .Str("error", std::string(previous.status().message())));
    } else if (previous->has_value()) {
      log.Log(LogRecord(LogLevel::kInfo, "previous_ra_accepted")
                  .Str("ca", ca_name)
                  .Str("certificate", (*previous)->certificate)
                  .Str("serial", (*previous)->serial_hex)
                  .Str("not_after", Rfc3339((*previous)->not_after))
                  .Str("key", (*previous)->key));
    }
    for (const LogRecord& line : previous_cas) log.Log(line);
    out.by_name.emplace(files.name, core->get());
    out.cores.push_back(*std::move(core));
    log.Log(LogRecord(LogLevel::kInfo, "issuing_ca")
                .Str("name", files.name.empty() ? "(default)" : files.name)
                .Str("ca_key_label", files.ca_key_label)
                .Str("ca_cert", files.ca_cert)
                .Int("ca_chain", static_cast<int64_t>(chain_length))
                .Str("issuance_policy", policy_text)
                .Str("ra_key", !files.ra_key_file.empty()
                                   ? "file:" + files.ra_key_file
                                   : "token:" + keys.ra_token_label + ":" + files.ra_key_label));
  }
  return out;
}

}  // namespace scep::signer
