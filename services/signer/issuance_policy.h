#ifndef SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_H_
#define SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_H_

#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::signer {

// What one CA key may sign, whatever a gateway asks (README "Issuance
// policy"). Profiles choose within these bounds; the signer checks every
// certificate against them after building it and before the CA key signs.
// Empty lists and zero bounds add nothing beyond the built-in rules:
// validity 1..3650 days, CA:FALSE, never keyCertSign or cRLSign, digests
// sha256/384/512, subjectAltNames well-formed for their type
// (crypto::CheckSubjectAltNameSyntax).
struct IssuancePolicy {
  struct IpRange {
    std::array<unsigned char, 16> prefix{};
    int length = 0;  // address length in octets: 4 or 16
    int bits = 0;    // prefix length
  };

  bool configured = false;  // from the policy file
  int max_validity_days = 0;
  uint32_t allowed_key_usage = 0;  // OpenSSL KU_* bits; 0: any end-entity usage
  std::vector<std::string> allowed_extended_key_usage;  // dotted OIDs
  uint32_t allowed_san_types = 0;  // kSan* bits (usage_names.h); 0: any
  std::vector<std::string> permitted_dns_domains;       // lower case
  std::vector<std::string> permitted_email_domains;     // lower case
  std::vector<IpRange> permitted_ip_ranges;
  int max_san_entries = 0;
  int max_subject_bytes = 0;
  std::vector<std::string> allowed_digests;
  int min_rsa_bits = 0;
  std::vector<std::string> allowed_key_types;  // rsa, ec-p256, ec-p384
};

// Why a certificate is outside its CA's policy: `rule` a bounded label for
// metrics (validity, key_usage, extended_key_usage, san_syntax, san_type,
// dns_domain, email_domain, ip_range, san_count, subject_size, digest,
// key; ca_expired, see WithIssuanceRule), `message`
// for the device and the audit log (no secrets: it names the offending
// value and the bound).
struct PolicyRefusal {
  std::string rule;
  std::string message;
};

// Checks `cert` (built, not yet signed; its public key `key`, to be signed
// with `digest`, e.g. "sha256") against the built-in rules and `policy`.
// `now` is the issuance time its validity was computed from. nullopt:
// within bounds.
std::optional<PolicyRefusal> CheckIssuance(const IssuancePolicy& policy, X509* cert,
                                           EVP_PKEY* key, absl::string_view digest,
                                           absl::Time now);

// The rule of a refusal SignerCore returned (FailedPrecondition carrying
// it), or "" for any other status.
std::string PolicyRuleOf(const absl::Status& status);
absl::Status PolicyRefusalStatus(const PolicyRefusal& refusal);

// `status` carrying `rule` for PolicyRuleOf: a refusal that is no bound of
// the policy but is counted and audited like one (rule "ca_expired": the
// CA certificate has expired).
absl::Status WithIssuanceRule(absl::Status status, absl::string_view rule);

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_ISSUANCE_POLICY_H_
