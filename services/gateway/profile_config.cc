#include "services/gateway/profile_config.h"

#include <openssl/objects.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/base/secret.h"
#include "common/crypto/distinguished_name.h"
#include "common/crypto/publication_uri.h"
#include "services/gateway/http_post.h"
#include "google/protobuf/util/json_util.h"
#include "scep/config/v1/profiles.pb.h"

namespace scep::gateway {
namespace {

// "{key}" is the one placeholder of publication URIs: the signer puts the
// issuing CA's key identifier there (README "CA rollover"). Any other
// brace is most likely a typo that would reach every certificate.
absl::Status OnlyKeyPlaceholder(const std::vector<std::string>& uris) {
  for (const std::string& uri : uris) {
    if (absl::StrContains(absl::StrReplaceAll(uri, {{"{key}", ""}}), '{') ||
        absl::StrContains(absl::StrReplaceAll(uri, {{"{key}", ""}}), '}')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", uri.substr(0, 100), "' has a placeholder other than {key}"));
    }
  }
  return absl::OkStatus();
}

namespace pb = ::scep::config::v1;

constexpr const char* kKeyUsages[] = {
    "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
    "keyAgreement",     "keyCertSign",    "cRLSign",         "encipherOnly",
    "decipherOnly"};
constexpr const char* kEkus[] = {"clientAuth", "serverAuth", "codeSigning",
                                 "emailProtection", "timeStamping", "OCSPSigning",
                                 "ipsecIKE", "msSmartcardLogin"};
constexpr const char* kSanTypes[] = {"dns", "email", "upn", "uri", "ip"};
constexpr const char* kKeyTypes[] = {"rsa", "ec-p256", "ec-p384"};
constexpr uint32_t kMaxRateLimit = 1000000000;

template <size_t N>
bool OneOf(const std::string& v, const char* const (&options)[N]) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

class Checker {
 public:
  Checker(absl::string_view origin, const pb::Profile& p)
      : prefix_(absl::StrCat(origin, ": profile '", p.name(), "': ")), profile_(p.name()) {}
  const std::string& profile() const { return profile_; }
  absl::Status Error(absl::string_view field, absl::string_view why) const {
    return absl::FailedPreconditionError(absl::StrCat(prefix_, field, ": ", why));
  }
  // A message that names its field itself.
  absl::Status Error(absl::string_view message) const {
    return absl::FailedPreconditionError(absl::StrCat(prefix_, message));
  }

 private:
  std::string prefix_;
  std::string profile_;
};

// The secret named by `env` (an environment variable) or `file` (its
// trailing whitespace dropped) of `field` ("challenge", "notify"); "" when
// neither is given. Errors name the variable or file, never the value.
absl::StatusOr<std::string> ProfileSecret(const Checker& check, const SecretSources& secrets,
                                          absl::string_view field, const std::string& env,
                                          const std::string& file) {
  if (!env.empty() && !file.empty()) {
    return check.Error(field, "secret_env and secret_file are exclusive");
  }
  if (!env.empty()) {
    std::optional<std::string> v = secrets.env(env);
    if (!v.has_value() || v->empty()) {
      return check.Error(absl::StrCat(field, ".secret_env"),
                         absl::StrCat("environment variable ", env, " is not set"));
    }
    return *std::move(v);
  }
  if (!file.empty()) {
    absl::StatusOr<std::string> v = secrets.file(file);
    absl::string_view secret = v.ok() ? absl::StripTrailingAsciiWhitespace(*v) : "";
    if (secret.empty()) {
      return check.Error(absl::StrCat(field, ".secret_file"), absl::StrCat("cannot read ", file));
    }
    return std::string(secret);
  }
  return std::string();
}

// Checks a hook's URL (`url_field`) and, for https://, builds its TLS
// context from `tls` (`tls_field`): null for http://.
absl::StatusOr<std::shared_ptr<TlsClientContext>> HookTls(
    const Checker& check, const SecretSources& secrets, absl::string_view url_field,
    const std::string& url, absl::string_view tls_field, const pb::HookTls* tls) {
  absl::StatusOr<HttpUrl> parsed = ParseHttpUrl(url, url_field);
  if (!parsed.ok()) {
    return check.Error(url_field, absl::StrCat("must be http[s]://host[:port]/path (",
                                               parsed.status().message(), ")"));
  }
  if (!parsed->tls) {
    if (tls != nullptr) return check.Error(tls_field, "is for an https:// URL only");
    return nullptr;
  }
  if (!secrets.tls) return nullptr;
  TlsClientFiles files;
  if (tls != nullptr) files = {tls->ca_file(), tls->cert_file(), tls->key_file()};
  absl::StatusOr<std::shared_ptr<TlsClientContext>> context =
      secrets.tls(files, tls_field, check.profile());
  if (!context.ok()) return check.Error(context.status().message());
  return context;
}

absl::StatusOr<Profile> Convert(const pb::Profile& in, absl::string_view origin,
                                const SecretSources& secrets) {
  Checker check(origin, in);
  Profile out;
  out.name = in.name();
  out.template_name = in.template_name().empty() ? in.name() : in.template_name();
  if (in.certificate_type() == "user") {
    out.type = Profile::CertificateType::kUser;
  } else if (!in.certificate_type().empty() && in.certificate_type() != "device") {
    return check.Error("certificate_type", "must be device or user");
  }
  // Attribute types in any case ("cn", "commonName"), kept as OpenSSL's
  // short names, which is what requests are compared with.
  for (const pb::Rdn& rdn : in.subject()) {
    const int nid = crypto::AttributeTypeNid(rdn.type());
    if (nid == NID_undef) {
      return check.Error("subject", absl::StrCat("unknown RDN type '", rdn.type(), "'"));
    }
    if (rdn.value().empty()) return check.Error("subject", "empty RDN value");
    std::string value = rdn.value();
    if (value.size() > 2 && value.front() == '{' && value.back() == '}') {
      // A copy of the request's attribute: one OpenSSL knows, or every
      // request would be refused for lacking it.
      const std::string copied = value.substr(1, value.size() - 2);
      const int copied_nid = crypto::AttributeTypeNid(copied);
      if (copied_nid == NID_undef) {
        return check.Error("subject", absl::StrCat("'", value, "' names no attribute type"));
      }
      value = absl::StrCat("{", OBJ_nid2sn(copied_nid), "}");
    }
    out.subject.emplace_back(OBJ_nid2sn(nid), std::move(value));
  }
  for (const std::string& rdn : in.allowed_rdns()) {
    const int nid = crypto::AttributeTypeNid(rdn);
    if (nid == NID_undef) {
      return check.Error("allowed_rdns", absl::StrCat("unknown RDN type '", rdn, "'"));
    }
    out.allowed_rdns.push_back(OBJ_nid2sn(nid));
  }
  for (const pb::SanRule& rule : in.san_policy()) {
    if (!OneOf(rule.type(), kSanTypes)) {
      return check.Error("san_policy.type", "must be dns, email, upn, uri or ip");
    }
    if (rule.patterns().empty()) return check.Error("san_policy.patterns", "empty");
    out.san_policy.emplace_back(
        rule.type(), std::vector<std::string>(rule.patterns().begin(), rule.patterns().end()));
  }
  if (!in.issuing_ca().empty()) {
    if (in.issuing_ca().size() > 64 ||
        in.issuing_ca().find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
            std::string::npos) {
      return check.Error("issuing_ca", "must be 1..64 of [a-z0-9-_] (a signer CA name)");
    }
    out.issuing_ca = in.issuing_ca();
  }
  if (in.validity_days() > 3650) return check.Error("validity_days", "must be 1..3650");
  if (in.validity_days() != 0) out.validity_days = static_cast<int>(in.validity_days());
  if (!in.digest().empty()) {
    if (in.digest() != "sha256" && in.digest() != "sha384" && in.digest() != "sha512") {
      return check.Error("digest", "must be sha256, sha384 or sha512");
    }
    out.digest = in.digest();
  }
  for (const std::string& ku : in.key_usage()) {
    if (!OneOf(ku, kKeyUsages)) return check.Error("key_usage", absl::StrCat("unknown '", ku, "'"));
    if (ku == "keyCertSign" || ku == "cRLSign") {
      return check.Error("key_usage", absl::StrCat(ku, " is a CA usage; issued certificates are "
                                                       "CA:FALSE (RFC 5280 4.2.1.3)"));
    }
    out.key_usage.push_back(ku);
  }
  for (const std::string& eku : in.extended_key_usage()) {
    if (!OneOf(eku, kEkus)) {
      return check.Error("extended_key_usage", absl::StrCat("unknown '", eku, "'"));
    }
    out.extended_key_usage.push_back(eku);
  }
  out.crl_distribution_points.assign(in.crl_distribution_points().begin(),
                                     in.crl_distribution_points().end());
  if (absl::Status uris = crypto::CheckPublicationUris(out.crl_distribution_points, "",
                                                       /*ldap_allowed=*/true);
      !uris.ok()) {
    return check.Error("crl_distribution_points", uris.message());
  }
  if (absl::Status key = OnlyKeyPlaceholder(out.crl_distribution_points); !key.ok()) {
    return check.Error("crl_distribution_points", key.message());
  }
  out.ca_issuers.assign(in.ca_issuers().begin(), in.ca_issuers().end());
  if (absl::Status uris = crypto::CheckPublicationUris(out.ca_issuers, "",
                                                       /*ldap_allowed=*/false);
      !uris.ok()) {
    return check.Error("ca_issuers", uris.message());
  }
  if (absl::Status key = OnlyKeyPlaceholder(out.ca_issuers); !key.ok()) {
    return check.Error("ca_issuers", key.message());
  }
  out.ocsp_urls.assign(in.ocsp_urls().begin(), in.ocsp_urls().end());
  if (absl::Status uris = crypto::CheckPublicationUris(out.ocsp_urls, "",
                                                       /*ldap_allowed=*/false);
      !uris.ok()) {
    return check.Error("ocsp_urls", uris.message());
  }
  if (in.min_rsa_bits() != 0) {
    if (in.min_rsa_bits() < 2048 || in.min_rsa_bits() > 8192) {
      return check.Error("min_rsa_bits", "must be 2048..8192");
    }
    out.min_rsa_bits = static_cast<int>(in.min_rsa_bits());
  }
  if (!in.key_types().empty()) {
    out.key_types.clear();
    for (const std::string& t : in.key_types()) {
      if (!OneOf(t, kKeyTypes)) return check.Error("key_types", "must be rsa, ec-p256 or ec-p384");
      out.key_types.push_back(t);
    }
  }
  const pb::Challenge& ch = in.challenge();
  if (ch.mode().empty() || ch.mode() == "static") {
    out.challenge_mode = Profile::ChallengeMode::kStatic;
    absl::StatusOr<std::string> secret =
        ProfileSecret(check, secrets, "challenge", ch.secret_env(), ch.secret_file());
    if (!secret.ok()) return secret.status();
    if (secret->empty()) return check.Error("challenge", "static mode needs secret_env or secret_file");
    out.challenge = *std::move(secret);
  } else if (ch.mode() == "one-time") {
    out.challenge_mode = Profile::ChallengeMode::kOneTime;
  } else if (ch.mode() == "external") {
    out.challenge_mode = Profile::ChallengeMode::kExternal;
    absl::StatusOr<std::shared_ptr<TlsClientContext>> tls = HookTls(
        check, secrets, "challenge.verifier_url", ch.verifier_url(), "challenge.verifier_tls",
        ch.has_verifier_tls() ? &ch.verifier_tls() : nullptr);
    if (!tls.ok()) return tls.status();
    out.verifier_url = ch.verifier_url();
    out.verifier_tls = *std::move(tls);
    if (ch.verifier_timeout_ms() > 60000) {
      return check.Error("challenge.verifier_timeout_ms", "must be at most 60000");
    }
    if (ch.verifier_timeout_ms() != 0) {
      out.verifier_timeout = absl::Milliseconds(ch.verifier_timeout_ms());
    }
  } else {
    return check.Error("challenge.mode", "must be static, one-time or external");
  }
  if (in.has_notify() && !in.notify().url().empty()) {
    const scep::config::v1::Notify& notify = in.notify();
    absl::StatusOr<std::shared_ptr<TlsClientContext>> tls =
        HookTls(check, secrets, "notify.url", notify.url(), "notify.tls",
                notify.has_tls() ? &notify.tls() : nullptr);
    if (!tls.ok()) return tls.status();
    out.notice_url = notify.url();
    out.notice_tls = *std::move(tls);
    if (notify.timeout_ms() > 60000) return check.Error("notify.timeout_ms", "must be at most 60000");
    if (notify.timeout_ms() != 0) out.notice_timeout = absl::Milliseconds(notify.timeout_ms());
    for (const std::string& event : notify.events()) {
      if (event == "issued") {
        out.notice_issued = true;
      } else if (event == "failed") {
        out.notice_failed = true;
      } else {
        return check.Error("notify.events", absl::StrCat("unknown event ", event,
                                                         " (issued, failed)"));
      }
    }
    if (notify.events().empty()) out.notice_issued = out.notice_failed = true;
    if (notify.csr().empty() || notify.csr() == "auto") {
      out.notice_csr = out.challenge_mode != Profile::ChallengeMode::kStatic;
    } else if (notify.csr() == "include" || notify.csr() == "omit") {
      out.notice_csr = notify.csr() == "include";
    } else {
      return check.Error("notify.csr", "must be auto, include or omit");
    }
    absl::StatusOr<std::string> key =
        ProfileSecret(check, secrets, "notify", notify.secret_env(), notify.secret_file());
    if (!key.ok()) return key.status();
    out.notice_secret = *std::move(key);
    if (!out.notice_secret.empty() && out.notice_secret.size() < 16) {
      return check.Error("notify", "the signing key must be at least 16 bytes");
    }
  } else if (in.has_notify() && !in.notify().events().empty()) {
    return check.Error("notify.url", "is required with notify.events");
  }
  if (in.approval() == "manual") {
    out.approval = Profile::Approval::kManual;
  } else if (!in.approval().empty() && in.approval() != "automatic") {
    return check.Error("approval", "must be automatic or manual");
  }
  if (in.approval_ttl_hours() != 0) out.approval_ttl = absl::Hours(in.approval_ttl_hours());
  out.allow_legacy = in.allow_legacy();
  out.renewal_window = absl::Hours(24) * static_cast<int64_t>(in.renewal_window_days());
  // Checked against the other profiles by ProfileSet.
  out.renewal_from_profiles.assign(in.renewal_from_profiles().begin(),
                                   in.renewal_from_profiles().end());
  if (in.max_sans() > 1000) return check.Error("max_sans", "must be at most 1000");
  if (in.max_sans() != 0) out.max_sans = static_cast<int>(in.max_sans());
  if (in.max_subject_bytes() > 16384) {
    return check.Error("max_subject_bytes", "must be at most 16384");
  }
  if (in.max_subject_bytes() != 0) {
    out.max_subject_bytes = static_cast<int>(in.max_subject_bytes());
  }
  // uint32 in the file, int in Profile: past INT_MAX the cast turned a limit
  // negative (found by fuzz/profiles_fuzzer, regression input
  // fuzz/regressions/profiles/rate-limit-over-int-max.json).
  const pb::RateLimits& rl = in.rate_limits();
  for (const auto& [field, value] :
       {std::pair{"rate_limits.per_client_per_minute", rl.per_client_per_minute()},
        std::pair{"rate_limits.per_profile_per_minute", rl.per_profile_per_minute()},
        std::pair{"rate_limits.per_subject_per_day", rl.per_subject_per_day()}}) {
    if (value > kMaxRateLimit) {
      return check.Error(field, absl::StrCat("must be at most ", kMaxRateLimit, " (0: none)"));
    }
  }
  out.per_client_per_minute = static_cast<int>(rl.per_client_per_minute());
  out.per_profile_per_minute = static_cast<int>(rl.per_profile_per_minute());
  out.per_subject_per_day = static_cast<int>(rl.per_subject_per_day());
  return out;
}

}  // namespace

SecretSources RealSecretSources(metrics::JsonLogger* log) {
  SecretSources s;
  // Taken out of the environment at the first read (base::TakeSecretFromEnv);
  // profiles naming the same variable get the value kept here.
  auto taken = std::make_shared<std::map<std::string, std::string>>();
  s.env = [taken](const std::string& name) -> std::optional<std::string> {
    if (auto it = taken->find(name); it != taken->end()) return it->second;
    std::optional<std::string> v = base::TakeSecretFromEnv(name.c_str());
    if (v.has_value()) taken->emplace(name, *v);
    return v;
  };
  s.file = [](const std::string& path) -> absl::StatusOr<std::string> {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  s.tls = [log](const TlsClientFiles& files, absl::string_view setting,
                const std::string& profile) {
    return TlsClientContext::New(files, setting, absl::Seconds(10), TlsReloadLog{log, profile});
  };
  return s;
}

absl::StatusOr<std::vector<Profile>> ParseProfiles(absl::string_view json,
                                                   absl::string_view origin,
                                                   const SecretSources& secrets) {
  pb::ProfilesFile file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      std::string(json), &file, options);
  if (!status.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(origin, ": ", std::string(status.message())));
  }
  if (file.profiles().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(origin, ": no profiles"));
  }
  std::vector<Profile> out;
  for (const pb::Profile& p : file.profiles()) {
    absl::StatusOr<Profile> profile = Convert(p, origin, secrets);
    if (!profile.ok()) return profile.status();
    out.push_back(*std::move(profile));
  }
  // Name checks (charset, duplicates) are ProfileSet's.
  absl::StatusOr<std::unique_ptr<ProfileSet>> set = ProfileSet::New(out);
  if (!set.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(origin, ": ", set.status().message()));
  }
  return out;
}

absl::StatusOr<std::vector<Profile>> LoadProfilesFile(const std::string& path,
                                                      metrics::JsonLogger* log) {
  SecretSources secrets = RealSecretSources(log);
  absl::StatusOr<std::string> text = secrets.file(path);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read profiles file ", path));
  }
  return ParseProfiles(*text, path, secrets);
}

}  // namespace scep::gateway
