#include "services/signer/issuance_policy_file.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto/oid.h"
#include "common/crypto/ssl_ptr.h"
#include "google/protobuf/util/json_util.h"
#include "scep/config/v1/issuance_policy.pb.h"
#include "services/signer/usage_names.h"

namespace scep::signer {
namespace {

namespace pb = ::scep::config::v1;

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
    const std::optional<uint32_t> bit = KeyUsageBit(name);
    if (!bit.has_value()) {
      return bad("allowed_key_usage", absl::StrCat("unknown key usage '", name, "'"));
    }
    if ((*bit & kCaKeyUsages) != 0) {
      return bad("allowed_key_usage",
                 absl::StrCat(name, " is a CA usage; certificates issued here are CA:FALSE"));
    }
    out.allowed_key_usage |= *bit;
  }
  for (const std::string& name : in.allowed_extended_key_usage()) {
    std::string oid = crypto::DottedOidOf(name);
    if (oid.empty()) {
      return bad("allowed_extended_key_usage",
                 absl::StrCat("unknown purpose '", name, "' (a name such as clientAuth, or an OID)"));
    }
    out.allowed_extended_key_usage.push_back(std::move(oid));
  }
  for (const std::string& name : in.allowed_san_types()) {
    const std::optional<uint32_t> type = SanTypeBit(name);
    if (!type.has_value()) {
      return bad("allowed_san_types",
                 absl::StrCat("unknown SAN type '", name, "' (dns, email, upn, uri, ip)"));
    }
    out.allowed_san_types |= *type;
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

}  // namespace

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
    if (name.empty() || std::find(ca_names.begin(), ca_names.end(), name) == ca_names.end()) {
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

std::string DescribeIssuancePolicy(const IssuancePolicy& policy) {
  if (!policy.configured) return "built-in rules only";
  std::vector<std::string> parts;
  if (policy.max_validity_days > 0) {
    parts.push_back(absl::StrCat("max_validity_days=", policy.max_validity_days));
  }
  if (policy.allowed_key_usage != 0) {
    parts.push_back(
        absl::StrCat("key_usage=", absl::StrJoin(KeyUsageNamesOf(policy.allowed_key_usage), ",")));
  }
  if (!policy.allowed_extended_key_usage.empty()) {
    std::vector<std::string> names;
    for (const std::string& oid : policy.allowed_extended_key_usage) names.push_back(OidName(oid));
    parts.push_back(absl::StrCat("extended_key_usage=", absl::StrJoin(names, ",")));
  }
  if (policy.allowed_san_types != 0) {
    std::vector<std::string> names;
    for (uint32_t bit = 1; bit <= kSanIp; bit <<= 1) {
      if ((policy.allowed_san_types & bit) != 0) names.push_back(SanTypeName(bit));
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

}  // namespace scep::signer
