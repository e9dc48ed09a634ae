#include "services/gateway/scep_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace scep::gateway {
namespace {

constexpr size_t kMaxMessageParam = 128 * 1024;

}  // namespace

HttpResponse ScepService::Text(int status, absl::string_view text) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = absl::StrCat(text, "\n");
  return r;
}

absl::StatusOr<std::string> DecodeMessageParam(absl::string_view value) {
  if (value.size() > kMaxMessageParam) {
    return absl::InvalidArgumentError("message parameter too large");
  }
  std::string b64;
  b64.reserve(value.size() + 3);
  for (char c : value) {
    if (c == ' ') {
      b64.push_back('+');  // a '+' that an intermediary form-decoded
    } else if (c == '-') {
      b64.push_back('+');
    } else if (c == '_') {
      b64.push_back('/');
    } else if (c == '\r' || c == '\n' || c == '\t') {
      continue;
    } else {
      b64.push_back(c);
    }
  }
  while (b64.size() % 4 != 0) b64.push_back('=');
  std::string out;
  if (!absl::Base64Unescape(b64, &out) || out.empty()) {
    return absl::InvalidArgumentError("message parameter is not base64");
  }
  return out;
}

ScepService::ScepService(ScepServiceOptions options, SignerClient* signer,
                         redis::EnrollmentStore* store,
                         redis::CertificateIndex* index,
                         CaCertificates* certificates,
                         ScepServiceObservers observers)
    : options_(std::move(options)), observers_(observers) {
  // Each CA's enrollment knows the default profile and its own profiles
  // (renewal across profiles, re-indexing a lost certificate).
  const Profile& default_profile =
      options_.profiles != nullptr ? options_.profiles->Default() : options_.profile;
  auto pki_options = [&](absl::string_view ca) {
    PkiOperationOptions pki = options_.pki;
    pki.default_profile = default_profile.name;
    pki.ca_profiles.clear();
    if (options_.profiles == nullptr) {
      if (options_.profile.issuing_ca == ca) pki.ca_profiles.push_back(options_.profile.name);
      return pki;
    }
    for (const Profile& p : options_.profiles->All()) {
      if (p.issuing_ca == ca) pki.ca_profiles.push_back(p.name);
    }
    return pki;
  };
  previous_cas_ = std::make_unique<PreviousCaRevocation>(options_.previous_ca_crl_index,
                                                         options_.pki.crl_validity);
  cas_[""] = {certificates,
              std::make_unique<PkiOperation>(pki_options(""), signer, store, index,
                                             certificates, options_.extras),
              signer, index};
  std::vector<OcspIssuer> ocsp_issuers = {{"", certificates, signer, index}};
  for (const auto& [name, deps] : options_.issuing_cas) {
    if (name.empty()) continue;
    cas_[name] = {deps.certificates,
                  std::make_unique<PkiOperation>(pki_options(name), deps.signer, store,
                                                 deps.index, deps.certificates,
                                                 options_.extras),
                  deps.signer, deps.index};
    ocsp_issuers.push_back({name, deps.certificates, deps.signer, deps.index});
  }
  OcspResponderOptions ocsp_options{options_.ocsp_validity, options_.ocsp_reuse, absl::Now};
  ocsp_options.previous_cas = previous_cas_.get();
  ocsp_ = std::make_unique<OcspResponder>(std::move(ocsp_issuers), std::move(ocsp_options));
}

const ScepService::Ca* ScepService::CaOf(const Profile& profile) const {
  auto it = cas_.find(profile.issuing_ca);
  return it == cas_.end() ? nullptr : &it->second;
}

const Profile* ScepService::FindProfile(absl::string_view path) const {
  // As clients build the URL: a trailing slash (URLs pasted into an MDM
  // console), and "pkiclient.exe" appended to the configured path (Cisco
  // IOS, sscep: the NDES convention); "/cgi-bin/pkiclient.exe" is what IOS
  // asks for when the URL has no path at all.
  if (path == "/cgi-bin/pkiclient.exe") path = "/scep";
  absl::ConsumeSuffix(&path, "/pkiclient.exe");
  if (path.size() > 1) absl::ConsumeSuffix(&path, "/");
  const bool root = path == "/scep";
  if (options_.profiles == nullptr) {
    return root || path == absl::StrCat("/scep/", options_.profile.name)
               ? &options_.profile
               : nullptr;
  }
  if (root) return &options_.profiles->Default();
  if (!absl::ConsumePrefix(&path, "/scep/")) return nullptr;
  return options_.profiles->Find(path);
}

std::string ScepService::Capabilities() const {
  return Capabilities(options_.profiles != nullptr ? options_.profiles->Default()
                                                   : options_.profile);
}

std::string ScepService::Capabilities(const Profile& profile) const {
  // Only what is implemented. SHA-384 is also what strongSwan 5.9 looks for
  // before it will use AES (its capability table is off by one).
  std::string caps =
      "AES\nPOSTPKIOperation\nRenewal\nSCEPStandard\nSHA-256\nSHA-384\nSHA-512\n";
  if (profile.allow_legacy) caps += "DES3\nSHA-1\n";
  // Advertised only while a next CA certificate is configured (RFC 8894
  // section 3.5.2).
  const Ca* ca = CaOf(profile);
  if (ca == nullptr) return caps;
  absl::StatusOr<std::shared_ptr<const CaSet>> set = ca->certificates->Get();
  if (set.ok() && (*set)->next_ca != nullptr) caps += "GetNextCACert\n";
  return caps;
}

bool NeverBlocks(const HttpRequest& request) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> query =
      ParseQuery(request.raw_query);
  if (!query.ok()) return false;
  std::string operation;
  for (auto& [key, value] : *query) {
    if (key == "operation") operation = std::move(value);  // as Route does
  }
  return operation == "GetCACaps" || operation == "GetCACert" ||
         operation == "GetNextCACert";
}

HttpResponse ScepService::Handle(const HttpRequest& request) {
  const absl::Time start = absl::Now();
  if (observers_.metrics != nullptr) observers_.metrics->RequestStarted();
  Record record;
  record.labels.operation = "invalid";
  record.labels.profile = "unknown";
  HttpResponse response = Route(request, record);
  record.labels.http_status = response.status;
  Report(request, record, absl::Now() - start);
  return response;
}

void ScepService::Report(const HttpRequest& request, const Record& record,
                         absl::Duration latency) {
  if (observers_.metrics != nullptr) {
    observers_.metrics->RequestFinished(record.labels, latency);
  }
  if (observers_.log == nullptr) return;
  const RequestLabels& l = record.labels;
  std::string outcome = l.pki_status;
  if (!l.fail_info.empty()) absl::StrAppend(&outcome, " ", l.fail_info);
  if (outcome.empty()) outcome = l.http_status < 400 ? "ok" : "error";
  metrics::LogRecord line(
      l.http_status >= 500 ? metrics::LogLevel::kWarning : metrics::LogLevel::kInfo,
      "request");
  line.Str("operation", l.operation)
      .Str("profile", l.profile)
      .Str("transaction_id", record.transaction_id)
      .Str("message_type", l.message_type)
      .Str("outcome", outcome)
      .Int("http_status", l.http_status)
      .Num("latency_ms", absl::ToDoubleMilliseconds(latency))
      .Str("client", options_.trusted_proxies.ClientOf(request));
  if (!request.forwarded_for.empty() && !options_.trusted_proxies.empty()) {
    line.Str("peer", request.remote_address);
  }
  if (!record.detail.empty()) line.Str("detail", record.detail);
  if (record.retransmission) line.Bool("retransmission", true);
  observers_.log->Log(line);
}

HttpResponse ScepService::Route(const HttpRequest& request, Record& record) {
  if (std::optional<HttpResponse> published = Publication(request, record)) {
    return *std::move(published);
  }
  const Profile* profile = FindProfile(request.path);
  if (profile == nullptr) {
    return Text(404, "not found: SCEP is served at /scep and /scep/{profile}");
  }
  record.labels.profile = profile->name;
  const Ca* ca = CaOf(*profile);
  if (ca == nullptr) {
    return Text(500, "the profile's issuing CA is not configured");
  }
  // HEAD for what GET reads (monitoring probes; the HTTP server sends the
  // headers only), never for a PKIOperation, which acts.
  if (request.method != "GET" && request.method != "POST" && request.method != "HEAD") {
    HttpResponse r = Text(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD, POST");
    return r;
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> query =
      ParseQuery(request.raw_query);
  if (!query.ok()) return Text(400, "malformed query string");
  std::string operation, message;
  for (auto& [key, value] : *query) {
    if (key == "operation") operation = value;
    if (key == "message") message = value;
  }
  if (operation == "GetCACaps" || operation == "GetCACert" ||
      operation == "GetNextCACert" || operation == "PKIOperation") {
    record.labels.operation = operation;
  }
  HttpResponse response;
  if (operation == "GetCACaps") {
    response = Text(200, "");
    response.body = Capabilities(*profile);
  } else if (operation == "GetCACert") {
    response = GetCaCert(*ca);
  } else if (operation == "GetNextCACert") {
    response = GetNextCaCert(*ca);
  } else if (operation == "PKIOperation") {
    if (request.method == "HEAD") {
      HttpResponse r = Text(405, "PKIOperation is GET or POST");
      r.headers.emplace_back("Allow", "GET, POST");
      return r;
    }
    response = PkiOperationRequest(request, *profile, message, *ca, record);
  } else if (operation.empty()) {
    return Text(400, "missing operation parameter");
  } else {
    return Text(400, "unknown operation");
  }
  if (response.status == 503) {
    response.headers.emplace_back("Retry-After",
                                  std::to_string(options_.retry_after_seconds));
  }
  return response;
}

HttpResponse ScepService::GetCaCert(const Ca& ca) {
  absl::StatusOr<std::shared_ptr<const CaSet>> set = ca.certificates->Get();
  if (!set.ok()) return Text(503, "CA certificates not yet available");
  HttpResponse r;
  r.status = 200;
  // RFC 8894 section 4.2.1.2: CA and RA certificates in a degenerate
  // SignedData.
  r.content_type = "application/x-x509-ca-ra-cert";
  r.body = (*set)->get_ca_cert_body;
  return r;
}

HttpResponse ScepService::GetNextCaCert(const Ca& ca) {
  absl::StatusOr<std::shared_ptr<const CaSet>> set = ca.certificates->Get();
  if (!set.ok()) return Text(503, "CA certificates not yet available");
  if ((*set)->next_ca == nullptr) {
    return Text(404, "no next CA certificate is configured");
  }
  HttpResponse r;
  r.status = 200;
  // RFC 8894 section 4.7.1: the next CA certificate in a degenerate
  // SignedData, itself signed by the current RA.
  r.content_type = "application/x-x509-next-ca-cert";
  r.body = (*set)->next_ca_message;
  return r;
}

std::optional<HttpResponse> ScepService::RateLimit(const HttpRequest& request,
                                                   const Profile& profile) {
  redis::RateLimiter* limiter = options_.extras.rate_limiter;
  if (limiter == nullptr) return std::nullopt;
  std::vector<redis::RateLimit> limits;
  if (profile.per_client_per_minute > 0) {
    // The device's address: the peer's, or X-Forwarded-For's behind a
    // trusted proxy.
    const std::string client = options_.trusted_proxies.ClientOf(request);
    limits.push_back({absl::StrCat(profile.name, ":client:", client),
                      profile.per_client_per_minute, absl::Minutes(1)});
  }
  if (profile.per_profile_per_minute > 0) {
    limits.push_back({absl::StrCat(profile.name, ":profile"),
                      profile.per_profile_per_minute, absl::Minutes(1)});
  }
  if (limits.empty()) return std::nullopt;
  absl::StatusOr<redis::RateDecision> decision = limiter->Check(limits);
  if (!decision.ok()) return Text(503, "service unavailable: rate limiter");
  if (decision->allowed) return std::nullopt;
  if (observers_.metrics != nullptr) observers_.metrics->RateLimited(decision->exceeded);
  HttpResponse r = Text(429, "too many requests");
  const int64_t seconds = std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(decision->retry_after, absl::Seconds(1))));
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

HttpResponse ScepService::PkiOperationRequest(const HttpRequest& request,
                                              const Profile& profile,
                                              const std::string& message_param,
                                              const Ca& ca, Record& record) {
  std::string der;
  if (request.method == "POST") {
    der = request.body;
  } else {
    absl::StatusOr<std::string> decoded = DecodeMessageParam(message_param);
    if (!decoded.ok()) return Text(400, decoded.status().message());
    der = *std::move(decoded);
  }
  if (der.empty()) return Text(400, "empty pkiMessage");
  if (std::optional<HttpResponse> limited = RateLimit(request, profile)) {
    return *std::move(limited);
  }
  PkiOutcome outcome = ca.pki->Handle(profile, der);
  record.labels.message_type = outcome.message_type;
  record.labels.pki_status = outcome.pki_status;
  record.labels.fail_info = outcome.fail_info;
  record.transaction_id = outcome.transaction_id;
  record.detail = outcome.summary;
  record.retransmission = outcome.retransmission;
  if (outcome.http_status != 200) {
    HttpResponse r = Text(outcome.http_status, "");
    r.body = outcome.body;
    return r;
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "application/x-pki-message";
  r.body = std::move(outcome.body);
  return r;
}

}  // namespace scep::gateway
