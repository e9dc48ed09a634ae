#include "services/signer/issuance_policy.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crypto/device_key_type.h"
#include "common/crypto/distinguished_name.h"
#include "common/crypto/oid.h"
#include "common/crypto/san_syntax.h"
#include "common/crypto/ssl_ptr.h"
#include "services/signer/usage_names.h"

namespace scep::signer {
namespace {

constexpr char kRulePayload[] = "type.scep/issuance-policy-rule";

std::string KeyUsageList(uint32_t bits) { return absl::StrJoin(KeyUsageNamesOf(bits), ","); }

bool InRange(const IssuancePolicy::IpRange& range, const unsigned char* addr, int length) {
  if (length != range.length) return false;
  int bits = range.bits;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
    if ((addr[i] & mask) != (range.prefix[i] & mask)) return false;
  }
  return true;
}

// `name` equals `domain` or lies below it (case-insensitive).
bool WithinDomain(absl::string_view name, absl::string_view domain) {
  if (name.size() == domain.size()) return absl::EqualsIgnoreCase(name, domain);
  return name.size() > domain.size() && name[name.size() - domain.size() - 1] == '.' &&
         absl::EndsWithIgnoreCase(name, domain);
}

bool WithinAny(absl::string_view name, const std::vector<std::string>& domains) {
  return std::any_of(domains.begin(), domains.end(),
                     [&](const std::string& d) { return WithinDomain(name, d); });
}

template <typename T>
bool Contains(const std::vector<T>& values, const T& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

std::string SanText(const GENERAL_NAME* name, uint32_t* type) {
  auto text = [](const ASN1_STRING* s) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
  };
  switch (name->type) {
    case GEN_DNS:
      *type = kSanDns;
      return text(name->d.dNSName);
    case GEN_EMAIL:
      *type = kSanEmail;
      return text(name->d.rfc822Name);
    case GEN_URI:
      *type = kSanUri;
      return text(name->d.uniformResourceIdentifier);
    case GEN_IPADD:
      *type = kSanIp;
      return text(name->d.iPAddress);
    case GEN_OTHERNAME:
      if (OBJ_obj2nid(name->d.otherName->type_id) == NID_ms_upn &&
          name->d.otherName->value->type == V_ASN1_UTF8STRING) {
        *type = kSanUpn;
        return text(name->d.otherName->value->value.utf8string);
      }
      break;
    default:
      break;
  }
  *type = 0;
  return std::string();
}

std::string IpText(const std::string& octets) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (octets.size() == 4 || octets.size() == 16) {
    inet_ntop(octets.size() == 4 ? AF_INET : AF_INET6, octets.data(), buf, sizeof(buf));
  }
  return buf;
}

// Built-in: one subjectAltName extension that decodes, each name
// well-formed for its type (crypto::CheckSubjectAltNameSyntax).
std::optional<PolicyRefusal> CheckSanSyntax(X509* cert, crypto::GeneralNamesPtr* sans) {
  int critical = -1;  // -1: absent; -2: more than one
  sans->reset(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (*sans == nullptr && critical != -1) {
    return PolicyRefusal{"san_syntax", critical == -2
                                           ? "more than one subjectAltName extension"
                                           : "the subjectAltName does not decode"};
  }
  for (int i = 0; *sans != nullptr && i < sk_GENERAL_NAME_num(sans->get()); ++i) {
    absl::Status syntax =
        crypto::CheckSubjectAltNameSyntax(sk_GENERAL_NAME_value(sans->get(), i));
    if (!syntax.ok()) return PolicyRefusal{"san_syntax", std::string(syntax.message())};
  }
  return std::nullopt;
}

std::optional<PolicyRefusal> CheckSans(const IssuancePolicy& policy, GENERAL_NAMES* sans) {
  const int count = sans == nullptr ? 0 : sk_GENERAL_NAME_num(sans);
  if (policy.max_san_entries > 0 && count > policy.max_san_entries) {
    return PolicyRefusal{"san_count", absl::StrCat(count, " subjectAltNames (at most ",
                                                   policy.max_san_entries, ")")};
  }
  for (int i = 0; i < count; ++i) {
    uint32_t type = 0;
    const std::string value = SanText(sk_GENERAL_NAME_value(sans, i), &type);
    if (policy.allowed_san_types != 0 && (policy.allowed_san_types & type) == 0) {
      return PolicyRefusal{"san_type", absl::StrCat("subjectAltName of type ",
                                                    SanTypeName(type), " is not allowed")};
    }
    if (type == kSanDns && !policy.permitted_dns_domains.empty() &&
        !WithinAny(value, policy.permitted_dns_domains)) {
      return PolicyRefusal{"dns_domain",
                           absl::StrCat("DNS name ", value, " is outside the permitted domains")};
    }
    if ((type == kSanEmail || type == kSanUpn) &&
        !policy.permitted_email_domains.empty()) {
      const size_t at = value.rfind('@');
      if (at == std::string::npos ||
          !WithinAny(absl::string_view(value).substr(at + 1), policy.permitted_email_domains)) {
        return PolicyRefusal{"email_domain", absl::StrCat(type == kSanUpn ? "UPN " : "email ",
                                                          value, " is outside the permitted domains")};
      }
    }
    if (type == kSanIp && !policy.permitted_ip_ranges.empty() &&
        std::none_of(policy.permitted_ip_ranges.begin(), policy.permitted_ip_ranges.end(),
                     [&](const IssuancePolicy::IpRange& r) {
                       return InRange(r, reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()));
                     })) {
      return PolicyRefusal{"ip_range", absl::StrCat("IP address ", IpText(value),
                                                    " is outside the permitted ranges")};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<PolicyRefusal> CheckIssuance(const IssuancePolicy& policy, X509* cert,
                                           EVP_PKEY* key, absl::string_view digest,
                                           absl::Time now) {
  // keyUsage: built-in, no CA usages under CA:FALSE (RFC 5280 4.2.1.3).
  const uint32_t usage = KeyUsageOf(cert);
  if ((usage & kCaKeyUsages) != 0) {
    return PolicyRefusal{"key_usage", absl::StrCat("key usage ", KeyUsageList(usage & kCaKeyUsages),
                                                   " is for CA certificates only")};
  }
  crypto::GeneralNamesPtr sans;
  if (std::optional<PolicyRefusal> refusal = CheckSanSyntax(cert, &sans)) return refusal;
  // Built-in: subject text as written (no NUL or other control character).
  if (absl::Status text = crypto::CheckSubjectText(X509_get_subject_name(cert)); !text.ok()) {
    return PolicyRefusal{"subject_syntax", std::string(text.message())};
  }
  // Built-in: no key that no configuration may allow (explicit curve
  // parameters, an even or small RSA exponent).
  absl::StatusOr<std::string> key_type =
      crypto::DeviceKeyType(key, X509_get_X509_PUBKEY(cert));
  if (!key_type.ok()) return PolicyRefusal{"key", std::string(key_type.status().message())};
  if (!policy.configured) return std::nullopt;
  if (policy.allowed_key_usage != 0 && (usage & ~policy.allowed_key_usage) != 0) {
    return PolicyRefusal{"key_usage", absl::StrCat("key usage ",
                                                   KeyUsageList(usage & ~policy.allowed_key_usage),
                                                   " is not allowed")};
  }
  if (policy.max_validity_days > 0) {
    const absl::Time limit = now + absl::Hours(24) * policy.max_validity_days;
    time_t limit_t = absl::ToTimeT(limit);
    if (X509_cmp_time(X509_get0_notAfter(cert), &limit_t) > 0) {
      int days = 0, secs = 0;
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert));
      return PolicyRefusal{"validity", absl::StrCat("validity of ", days, " days (at most ",
                                                    policy.max_validity_days, ")")};
    }
  }
  if (!policy.allowed_extended_key_usage.empty()) {
    crypto::ExtendedKeyUsagePtr ekus(static_cast<EXTENDED_KEY_USAGE*>(
        X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
    for (int i = 0; ekus != nullptr && i < sk_ASN1_OBJECT_num(ekus.get()); ++i) {
      const std::string oid = crypto::DottedOid(sk_ASN1_OBJECT_value(ekus.get(), i));
      if (!Contains(policy.allowed_extended_key_usage, oid)) {
        return PolicyRefusal{"extended_key_usage",
                             absl::StrCat("extended key usage ", OidName(oid), " is not allowed")};
      }
    }
  }
  if (std::optional<PolicyRefusal> refusal = CheckSans(policy, sans.get())) return refusal;
  if (policy.max_subject_bytes > 0) {
    const int size = i2d_X509_NAME(X509_get_subject_name(cert), nullptr);
    if (size > policy.max_subject_bytes) {
      return PolicyRefusal{"subject_size", absl::StrCat("subject of ", size, " bytes (at most ",
                                                        policy.max_subject_bytes, ")")};
    }
  }
  if (!policy.allowed_digests.empty() && !Contains(policy.allowed_digests, std::string(digest))) {
    return PolicyRefusal{"digest", absl::StrCat("signature digest ", digest, " is not allowed")};
  }
  if (*key_type == "rsa" && EVP_PKEY_get_bits(key) < policy.min_rsa_bits) {
    return PolicyRefusal{"key", absl::StrCat("RSA key of ", EVP_PKEY_get_bits(key),
                                             " bits (at least ", policy.min_rsa_bits, ")")};
  }
  // By curve name, not size: secp256k1 and brainpoolP256r1 were ec-p256.
  if (!policy.allowed_key_types.empty() && !Contains(policy.allowed_key_types, *key_type)) {
    return PolicyRefusal{"key", absl::StrCat("key type ", *key_type, " is not allowed")};
  }
  return std::nullopt;
}

absl::Status PolicyRefusalStatus(const PolicyRefusal& refusal) {
  return WithIssuanceRule(absl::FailedPreconditionError(absl::StrCat(
                              "refused by the CA's issuance policy: ", refusal.message)),
                          refusal.rule);
}

absl::Status WithIssuanceRule(absl::Status status, absl::string_view rule) {
  status.SetPayload(kRulePayload, absl::Cord(rule));
  return status;
}

std::string PolicyRuleOf(const absl::Status& status) {
  auto rule = status.GetPayload(kRulePayload);
  return rule.has_value() ? std::string(*rule) : std::string();
}

}  // namespace scep::signer
