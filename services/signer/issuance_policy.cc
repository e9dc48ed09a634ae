#include "services/signer/issuance_policy.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto/ssl_ptr.h"
#include "google/protobuf/util/json_util.h"
#include "scep/config/v1/issuance_policy.pb.h"

namespace scep::signer {
namespace {

namespace pb = ::scep::config::v1;

constexpr char kRulePayload[] = "type.scep/issuance-policy-rule";
constexpr uint32_t kCaUsages = KU_KEY_CERT_SIGN | KU_CRL_SIGN;

struct NamedBit {
  const char* name;
  uint32_t bit;
};
constexpr NamedBit kKeyUsages[] = {
    {"digitalSignature", KU_DIGITAL_SIGNATURE}, {"nonRepudiation", KU_NON_REPUDIATION},
    {"keyEncipherment", KU_KEY_ENCIPHERMENT},   {"dataEncipherment", KU_DATA_ENCIPHERMENT},
    {"keyAgreement", KU_KEY_AGREEMENT},         {"keyCertSign", KU_KEY_CERT_SIGN},
    {"cRLSign", KU_CRL_SIGN},                   {"encipherOnly", KU_ENCIPHER_ONLY},
    {"decipherOnly", KU_DECIPHER_ONLY}};
constexpr NamedBit kSanTypes[] = {{"dns", IssuancePolicy::kDns},
                                  {"email", IssuancePolicy::kEmail},
                                  {"upn", IssuancePolicy::kUpn},
                                  {"uri", IssuancePolicy::kUri},
                                  {"ip", IssuancePolicy::kIp}};

std::string KeyUsageNames(uint32_t bits) { return absl::StrJoin(KeyUsageNamesOf(bits), ","); }

std::string DottedOid(const ASN1_OBJECT* obj) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof(buf), obj, 1);
  return n > 0 && n < static_cast<int>(sizeof(buf)) ? std::string(buf, n) : std::string();
}

// The short name of a known OID ("clientAuth"), else its dotted form.
std::string OidName(const std::string& dotted) {
  crypto::Asn1ObjectPtr obj(OBJ_txt2obj(dotted.c_str(), 1));
  const int nid = obj == nullptr ? NID_undef : OBJ_obj2nid(obj.get());
  const char* sn = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
  return sn != nullptr ? std::string(sn) : dotted;
}

bool ParseIpRange(const std::string& text, IssuancePolicy::IpRange* range) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  if (inet_pton(AF_INET, parts[0].c_str(), range->prefix.data()) == 1) {
    range->length = 4;
  } else if (inet_pton(AF_INET6, parts[0].c_str(), range->prefix.data()) == 1) {
    range->length = 16;
  } else {
    return false;
  }
  range->bits = range->length * 8;
  if (parts.size() == 2 &&
      (!absl::SimpleAtoi(parts[1], &range->bits) || range->bits < 0 ||
       range->bits > range->length * 8)) {
    return false;
  }
  return true;
}

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

// Checks one policy from the file; `where` names it in errors.
absl::StatusOr<IssuancePolicy> Convert(const pb::IssuancePolicy& in, const std::string& where) {
  auto bad = [&](absl::string_view field, absl::string_view what) {
    return absl::FailedPreconditionError(absl::StrCat(where, ".", field, ": ", what));
  };
  IssuancePolicy out;
  out.configured = true;
  if (in.max_validity_days() > 3650) return bad("max_validity_days", "at most 3650");
  out.max_validity_days = static_cast<int>(in.max_validity_days());
  for (const std::string& name : in.allowed_key_usage()) {
    const NamedBit* usage = std::find_if(std::begin(kKeyUsages), std::end(kKeyUsages),
                                         [&](const NamedBit& u) { return name == u.name; });
    if (usage == std::end(kKeyUsages)) {
      return bad("allowed_key_usage", absl::StrCat("unknown key usage '", name, "'"));
    }
    if ((usage->bit & kCaUsages) != 0) {
      return bad("allowed_key_usage",
                 absl::StrCat(name, " is a CA usage; certificates issued here are CA:FALSE"));
    }
    out.allowed_key_usage |= usage->bit;
  }
  for (const std::string& name : in.allowed_extended_key_usage()) {
    crypto::Asn1ObjectPtr obj(OBJ_txt2obj(name.c_str(), 0));
    if (obj == nullptr) {
      return bad("allowed_extended_key_usage",
                 absl::StrCat("unknown purpose '", name, "' (a name such as clientAuth, or an OID)"));
    }
    out.allowed_extended_key_usage.push_back(DottedOid(obj.get()));
  }
  for (const std::string& name : in.allowed_san_types()) {
    const NamedBit* type = std::find_if(std::begin(kSanTypes), std::end(kSanTypes),
                                        [&](const NamedBit& t) { return name == t.name; });
    if (type == std::end(kSanTypes)) {
      return bad("allowed_san_types",
                 absl::StrCat("unknown SAN type '", name, "' (dns, email, upn, uri, ip)"));
    }
    out.allowed_san_types |= type->bit;
  }
  for (const auto& [field, from, to] :
       {std::tuple{"permitted_dns_domains", &in.permitted_dns_domains(),
                   &out.permitted_dns_domains},
        std::tuple{"permitted_email_domains", &in.permitted_email_domains(),
                   &out.permitted_email_domains}}) {
    for (std::string domain : *from) {
      if (absl::StartsWith(domain, ".")) domain.erase(0, 1);
      if (domain.empty() || domain.size() > 253 ||
          domain.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789-.") != std::string::npos) {
        return bad(field, absl::StrCat("'", domain, "' is not a domain name"));
      }
      to->push_back(absl::AsciiStrToLower(domain));
    }
  }
  for (const std::string& text : in.permitted_ip_ranges()) {
    IssuancePolicy::IpRange range;
    if (!ParseIpRange(text, &range)) {
      return bad("permitted_ip_ranges",
                 absl::StrCat("'", text, "' is not an address or CIDR range"));
    }
    out.permitted_ip_ranges.push_back(range);
  }
  if (in.max_san_entries() > 1000) return bad("max_san_entries", "at most 1000");
  out.max_san_entries = static_cast<int>(in.max_san_entries());
  if (in.max_subject_bytes() > 65536) return bad("max_subject_bytes", "at most 65536");
  out.max_subject_bytes = static_cast<int>(in.max_subject_bytes());
  for (const std::string& digest : in.allowed_digests()) {
    if (digest != "sha256" && digest != "sha384" && digest != "sha512") {
      return bad("allowed_digests",
                 absl::StrCat("'", digest, "' is not one of sha256, sha384, sha512"));
    }
    out.allowed_digests.push_back(digest);
  }
  if (in.min_rsa_bits() > 16384) return bad("min_rsa_bits", "at most 16384");
  out.min_rsa_bits = static_cast<int>(in.min_rsa_bits());
  for (const std::string& type : in.allowed_key_types()) {
    if (type != "rsa" && type != "ec-p256" && type != "ec-p384") {
      return bad("allowed_key_types",
                 absl::StrCat("'", type, "' is not one of rsa, ec-p256, ec-p384"));
    }
    out.allowed_key_types.push_back(type);
  }
  return out;
}

std::string SanText(const GENERAL_NAME* name, uint32_t* type) {
  auto text = [](const ASN1_STRING* s) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
  };
  switch (name->type) {
    case GEN_DNS:
      *type = IssuancePolicy::kDns;
      return text(name->d.dNSName);
    case GEN_EMAIL:
      *type = IssuancePolicy::kEmail;
      return text(name->d.rfc822Name);
    case GEN_URI:
      *type = IssuancePolicy::kUri;
      return text(name->d.uniformResourceIdentifier);
    case GEN_IPADD:
      *type = IssuancePolicy::kIp;
      return text(name->d.iPAddress);
    case GEN_OTHERNAME:
      if (OBJ_obj2nid(name->d.otherName->type_id) == NID_ms_upn &&
          name->d.otherName->value->type == V_ASN1_UTF8STRING) {
        *type = IssuancePolicy::kUpn;
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

std::optional<PolicyRefusal> CheckSans(const IssuancePolicy& policy, X509* cert) {
  crypto::GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  const int count = sans == nullptr ? 0 : sk_GENERAL_NAME_num(sans.get());
  if (policy.max_san_entries > 0 && count > policy.max_san_entries) {
    return PolicyRefusal{"san_count", absl::StrCat(count, " subjectAltNames (at most ",
                                                   policy.max_san_entries, ")")};
  }
  for (int i = 0; i < count; ++i) {
    uint32_t type = 0;
    const std::string value = SanText(sk_GENERAL_NAME_value(sans.get(), i), &type);
    if (policy.allowed_san_types != 0 && (policy.allowed_san_types & type) == 0) {
      const NamedBit* named = std::find_if(std::begin(kSanTypes), std::end(kSanTypes),
                                           [&](const NamedBit& t) { return t.bit == type; });
      return PolicyRefusal{
          "san_type", absl::StrCat("subjectAltName of type ",
                                   named == std::end(kSanTypes) ? "other" : named->name,
                                   " is not allowed")};
    }
    if (type == IssuancePolicy::kDns && !policy.permitted_dns_domains.empty() &&
        !WithinAny(value, policy.permitted_dns_domains)) {
      return PolicyRefusal{"dns_domain",
                           absl::StrCat("DNS name ", value, " is outside the permitted domains")};
    }
    if ((type == IssuancePolicy::kEmail || type == IssuancePolicy::kUpn) &&
        !policy.permitted_email_domains.empty()) {
      const size_t at = value.rfind('@');
      if (at == std::string::npos ||
          !WithinAny(absl::string_view(value).substr(at + 1), policy.permitted_email_domains)) {
        return PolicyRefusal{"email_domain", absl::StrCat(type == IssuancePolicy::kUpn ? "UPN " : "email ",
                                                          value, " is outside the permitted domains")};
      }
    }
    if (type == IssuancePolicy::kIp && !policy.permitted_ip_ranges.empty() &&
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

std::vector<std::string> KeyUsageNamesOf(uint32_t bits) {
  std::vector<std::string> names;
  for (const NamedBit& usage : kKeyUsages) {
    if ((bits & usage.bit) != 0) names.push_back(usage.name);
  }
  return names;
}

absl::StatusOr<std::map<std::string, IssuancePolicy>> ParseIssuancePolicies(
    absl::string_view json, absl::string_view origin, const std::vector<std::string>& ca_names) {
  pb::IssuancePolicyFile file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &file, options);
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(origin, ": ", std::string(parsed.message())));
  }
  std::map<std::string, IssuancePolicy> out;
  for (const std::string& name : ca_names) out[name];
  auto named = [&](const absl::Status& status) {
    return absl::FailedPreconditionError(absl::StrCat(origin, ": ", status.message()));
  };
  if (file.has_default_ca()) {
    absl::StatusOr<IssuancePolicy> policy = Convert(file.default_ca(), "default_ca");
    if (!policy.ok()) return named(policy.status());
    out[""] = *std::move(policy);
  }
  for (const auto& [name, in] : file.issuing_cas()) {
    if (name.empty() || !Contains(ca_names, name)) {
      return absl::FailedPreconditionError(absl::StrCat(
          origin, ": issuing_cas.", name, ": this signer serves no issuing CA of that name"));
    }
    absl::StatusOr<IssuancePolicy> policy = Convert(in, "issuing_cas." + name);
    if (!policy.ok()) return named(policy.status());
    out[name] = *std::move(policy);
  }
  return out;
}

absl::StatusOr<std::map<std::string, IssuancePolicy>> LoadIssuancePolicies(
    const std::string& path, const std::vector<std::string>& ca_names) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read issuance policy file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseIssuancePolicies(text.str(), path, ca_names);
}

std::optional<PolicyRefusal> CheckIssuance(const IssuancePolicy& policy, X509* cert,
                                           EVP_PKEY* key, absl::string_view digest,
                                           absl::Time now) {
  // keyUsage: built-in, no CA usages under CA:FALSE (RFC 5280 4.2.1.3).
  uint32_t usage = 0;
  std::unique_ptr<ASN1_BIT_STRING, decltype(&ASN1_BIT_STRING_free)> bits(
      static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(cert, NID_key_usage, nullptr, nullptr)),
      ASN1_BIT_STRING_free);
  if (bits != nullptr) {
    if (bits->length > 0) usage = bits->data[0];
    if (bits->length > 1) usage |= static_cast<uint32_t>(bits->data[1]) << 8;
  }
  if ((usage & kCaUsages) != 0) {
    return PolicyRefusal{"key_usage", absl::StrCat("key usage ", KeyUsageNames(usage & kCaUsages),
                                                   " is for CA certificates only")};
  }
  if (!policy.configured) return std::nullopt;
  if (policy.allowed_key_usage != 0 && (usage & ~policy.allowed_key_usage) != 0) {
    return PolicyRefusal{"key_usage", absl::StrCat("key usage ",
                                                   KeyUsageNames(usage & ~policy.allowed_key_usage),
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
    std::unique_ptr<EXTENDED_KEY_USAGE, decltype(&EXTENDED_KEY_USAGE_free)> ekus(
        static_cast<EXTENDED_KEY_USAGE*>(
            X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)),
        EXTENDED_KEY_USAGE_free);
    for (int i = 0; ekus != nullptr && i < sk_ASN1_OBJECT_num(ekus.get()); ++i) {
      const std::string oid = DottedOid(sk_ASN1_OBJECT_value(ekus.get(), i));
      if (!Contains(policy.allowed_extended_key_usage, oid)) {
        return PolicyRefusal{"extended_key_usage",
                             absl::StrCat("extended key usage ", OidName(oid), " is not allowed")};
      }
    }
  }
  if (std::optional<PolicyRefusal> refusal = CheckSans(policy, cert)) return refusal;
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
  if (policy.min_rsa_bits > 0 || !policy.allowed_key_types.empty()) {
    std::string type = "other";
    if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA) {
      type = "rsa";
      if (EVP_PKEY_get_bits(key) < policy.min_rsa_bits) {
        return PolicyRefusal{"key", absl::StrCat("RSA key of ", EVP_PKEY_get_bits(key),
                                                 " bits (at least ", policy.min_rsa_bits, ")")};
      }
    } else if (EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
      type = absl::StrCat("ec-p", EVP_PKEY_get_bits(key));
    }
    if (!policy.allowed_key_types.empty() && !Contains(policy.allowed_key_types, type)) {
      return PolicyRefusal{"key", absl::StrCat("key type ", type, " is not allowed")};
    }
  }
  return std::nullopt;
}

std::string DescribeIssuancePolicy(const IssuancePolicy& policy) {
  if (!policy.configured) return "built-in rules only";
  std::vector<std::string> parts;
  if (policy.max_validity_days > 0) {
    parts.push_back(absl::StrCat("max_validity_days=", policy.max_validity_days));
  }
  if (policy.allowed_key_usage != 0) {
    parts.push_back(absl::StrCat("key_usage=", KeyUsageNames(policy.allowed_key_usage)));
  }
  if (!policy.allowed_extended_key_usage.empty()) {
    std::vector<std::string> names;
    for (const std::string& oid : policy.allowed_extended_key_usage) names.push_back(OidName(oid));
    parts.push_back(absl::StrCat("extended_key_usage=", absl::StrJoin(names, ",")));
  }
  if (policy.allowed_san_types != 0) {
    std::vector<std::string> names;
    for (const NamedBit& t : kSanTypes) {
      if ((policy.allowed_san_types & t.bit) != 0) names.push_back(t.name);
    }
    parts.push_back(absl::StrCat("san_types=", absl::StrJoin(names, ",")));
  }
  if (!policy.permitted_dns_domains.empty()) {
    parts.push_back(absl::StrCat("dns_domains=", absl::StrJoin(policy.permitted_dns_domains, ",")));
  }
  if (!policy.permitted_email_domains.empty()) {
    parts.push_back(
        absl::StrCat("email_domains=", absl::StrJoin(policy.permitted_email_domains, ",")));
  }
  if (!policy.permitted_ip_ranges.empty()) {
    parts.push_back(absl::StrCat("ip_ranges=", policy.permitted_ip_ranges.size()));
  }
  if (policy.max_san_entries > 0) {
    parts.push_back(absl::StrCat("max_san_entries=", policy.max_san_entries));
  }
  if (policy.max_subject_bytes > 0) {
    parts.push_back(absl::StrCat("max_subject_bytes=", policy.max_subject_bytes));
  }
  if (!policy.allowed_digests.empty()) {
    parts.push_back(absl::StrCat("digests=", absl::StrJoin(policy.allowed_digests, ",")));
  }
  if (policy.min_rsa_bits > 0) parts.push_back(absl::StrCat("min_rsa_bits=", policy.min_rsa_bits));
  if (!policy.allowed_key_types.empty()) {
    parts.push_back(absl::StrCat("key_types=", absl::StrJoin(policy.allowed_key_types, ",")));
  }
  return parts.empty() ? "built-in rules only" : absl::StrJoin(parts, " ");
}

absl::Status PolicyRefusalStatus(const PolicyRefusal& refusal) {
  absl::Status status = absl::FailedPreconditionError(
      absl::StrCat("refused by the CA's issuance policy: ", refusal.message));
  status.SetPayload(kRulePayload, absl::Cord(refusal.rule));
  return status;
}

std::string PolicyRuleOf(const absl::Status& status) {
  auto rule = status.GetPayload(kRulePayload);
  return rule.has_value() ? std::string(*rule) : std::string();
}

}  // namespace scep::signer
