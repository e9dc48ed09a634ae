#ifndef SCEP_SERVICES_GATEWAY_PROFILE_H_
#define SCEP_SERVICES_GATEWAY_PROFILE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::gateway {

class TlsClientContext;  // tls_client.h

// A certificate configuration profile as an MDM administrator knows it,
// served at /scep/{name}. Loaded from the profiles file (ProfileSet) or,
// for the single-profile flags, built in main.
struct Profile {
  enum class CertificateType { kDevice, kUser };
  enum class ChallengeMode { kStatic, kOneTime, kExternal };
  enum class Approval { kAutomatic, kManual };

  std::string name = "default";
  std::string template_name;  // shown to administrators (e.g. "Wi-Fi device")
  CertificateType type = CertificateType::kDevice;

  // Subject of issued certificates: RDNs in order; a value may be a
  // literal or "{CN}"-style reference to the request's attribute of that
  // name. Empty: the request's subject as is.
  std::vector<std::pair<std::string, std::string>> subject;
  // RDN types a request may carry (e.g. CN, O, OU); empty: any.
  std::vector<std::string> allowed_rdns;
  // SAN policy: allowed types ("dns", "email", "upn", "uri", "ip") each
  // with patterns ("*" wildcard, e.g. "*.devices.example.com"); a request
  // outside policy is refused, never rewritten. Empty: SANs copied as is.
  std::vector<std::pair<std::string, std::vector<std::string>>> san_policy;

  int validity_days = 365;
  std::string digest = "sha256";  // certificate signature hash
  // keyUsage and EKU names as OpenSSL spells them ("digitalSignature",
  // "keyEncipherment"; "clientAuth", "serverAuth", ...). Empty: defaults
  // (digitalSignature+keyEncipherment, clientAuth).
  std::vector<std::string> key_usage;
  std::vector<std::string> extended_key_usage;
  // Where relying parties (RADIUS, VPN, web servers checking client
  // certificates) find the CA's CRL and certificate: cRLDistributionPoints
  // and authorityInfoAccess caIssuers URIs of issued certificates, e.g. this
  // gateway's own /crl/{ca}.crl and /ca/{ca}.crt. Empty: no extension.
  std::vector<std::string> crl_distribution_points;
  std::vector<std::string> ca_issuers;
  std::vector<std::string> ocsp_urls;  // authorityInfoAccess OCSP, e.g. this gateway's /ocsp
  int min_rsa_bits = 2048;
  int max_sans = 20;  // more subjectAltNames in a request are refused
  int max_subject_bytes = 1024;  // larger DER subjects in a request are refused
  std::vector<std::string> key_types = {"rsa", "ec-p256", "ec-p384"};

  ChallengeMode challenge_mode = ChallengeMode::kStatic;
  // Static shared secret (case-sensitive). Secret: never logged.
  std::string challenge;
  std::string verifier_url;  // external mode: POST target
  absl::Duration verifier_timeout = absl::Seconds(5);
  std::shared_ptr<TlsClientContext> verifier_tls;  // set for an https:// verifier_url
  // Issuance notices (notifier.h): POSTed to notice_url, "" = none.
  std::string notice_url;
  absl::Duration notice_timeout = absl::Seconds(5);
  bool notice_issued = false;  // a certificate issued to a device
  bool notice_failed = false;  // a PKCSReq/RenewalReq refused with FAILURE
  bool notice_csr = true;      // the notice carries the device's CSR
  std::string notice_secret;   // HMAC key of X-Scep-Signature-256; "" = unsigned
  std::shared_ptr<TlsClientContext> notice_tls;  // set for an https:// notice_url

  Approval approval = Approval::kAutomatic;
  absl::Duration approval_ttl = absl::Hours(24 * 7);  // how long a request waits

  // Accept DES, 3DES and SHA-1 from legacy clients (micromdm scepclient).
  bool allow_legacy = false;
  // RenewalReq is accepted only this long before the current certificate
  // expires; zero: always.
  absl::Duration renewal_window = absl::ZeroDuration();
  // Other profiles whose certificates may renew under this one. A renewal
  // is authenticated by the current certificate and skips this profile's
  // challenge and approval: by default a certificate renews only under the
  // profile that issued it (its certificate index record's). ProfileSet
  // checks that each names another profile of the same issuing CA.
  std::vector<std::string> renewal_from_profiles;
  // Global rate limits (Redis); 0: none. Over the client or profile limit a
  // PKIOperation gets HTTP 429 with Retry-After; over the subject limit a
  // PKCSReq/RenewalReq gets FAILURE badRequest.
  int per_client_per_minute = 0;
  int per_profile_per_minute = 0;
  int per_subject_per_day = 0;

  // The signer's issuing CA for this profile (scep-signer --issuing_cas);
  // "" = the default CA. GetCACert, issuance, CertPoll/GetCert and GetCRL
  // all use it.
  std::string issuing_ca;
};

// The configured profiles, looked up by name. Immutable once built;
// thread-safe.
class ProfileSet {
 public:
  // FailedPrecondition for duplicate or invalid names, no profiles, or a
  // renewal_from_profiles name that is not another profile of the same
  // issuing CA.
  // The first profile is also served at /scep.
  static absl::StatusOr<std::unique_ptr<ProfileSet>> New(std::vector<Profile> profiles);

  // nullptr when no profile has that name.
  const Profile* Find(absl::string_view name) const;
  const Profile& Default() const { return profiles_.front(); }
  const std::vector<Profile>& All() const { return profiles_; }

 private:
  explicit ProfileSet(std::vector<Profile> profiles) : profiles_(std::move(profiles)) {}
  std::vector<Profile> profiles_;
};

}  // namespace scep::gateway

#endif  // SCEP_SERVICES_GATEWAY_PROFILE_H_
