// The relying parties' endpoints of ScepService: /crl, /ca and /ocsp.
#include <openssl/ocsp.h>

#include <algorithm>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/crypto/ca_key_id.h"
#include "common/crypto/der.h"
#include "services/gateway/crl_http_cache.h"
#include "services/gateway/scep_service.h"

namespace scep::gateway {

absl::StatusOr<std::shared_ptr<const std::string>> ScepService::CrlOf(
    const std::string& name, const Ca& ca, absl::string_view key_id) {
  absl::StatusOr<std::shared_ptr<const CaSet>> set = ca.certificates->Get();
  if (!set.ok()) return set.status();
  if (!key_id.empty() && key_id == crypto::CaKeyId((*set)->ca.get())) return ca.pki->Crl();
  for (const crypto::X509Ptr& previous : (*set)->previous_cas) {
    const std::string previous_id = crypto::CaKeyId(previous.get());
    const bool legacy = key_id.empty() &&
                        std::find(options_.crl_legacy_path_keys.begin(),
                                  options_.crl_legacy_path_keys.end(),
                                  previous_id) != options_.crl_legacy_path_keys.end();
    if (legacy || (!key_id.empty() && key_id == previous_id)) {
      return previous_cas_->Crl(name, ca.signer, ca.index, previous.get());
    }
  }
  if (key_id.empty()) return ca.pki->Crl();
  return absl::NotFoundError("no such CA key");
}

std::optional<HttpResponse> ScepService::Publication(const HttpRequest& request,
                                                    Record& record) {
  absl::string_view name = request.path;
  absl::string_view suffix;
  bool crl = false;
  if (name == "/ocsp" || absl::ConsumePrefix(&name, "/ocsp/")) {
    record.labels.operation = "OCSP";
    record.labels.profile = "";
    return Ocsp(request, name == "/ocsp" ? absl::string_view() : name);
  }
  if (absl::ConsumePrefix(&name, "/crl/")) {
    crl = true;
    suffix = ".crl";
  } else if (absl::ConsumePrefix(&name, "/ca/")) {
    suffix = ".crt";
  } else {
    return std::nullopt;
  }
  record.labels.operation = crl ? "CRL" : "CACertificate";
  record.labels.profile = "";
  if (!absl::ConsumeSuffix(&name, suffix)) {
    return Text(404, absl::StrCat("not found: ", crl ? "/crl/{ca}.crl" : "/ca/{ca}.crt"));
  }
  // /crl/{ca}/{keyid}.crl and /ca/{ca}/{keyid}.crt: one CA key's, current
  // or previous (CA rollover), as a "{key}" URI in a profile names it.
  absl::string_view key_id;
  if (const size_t slash = name.find('/'); slash != absl::string_view::npos) {
    key_id = name.substr(slash + 1);
    name = name.substr(0, slash);
    if (!crypto::IsCaKeyId(key_id)) return Text(404, "no such CA key");
  }
  auto it = cas_.find(name == "default" ? absl::string_view() : name);
  if (name.empty() || it == cas_.end()) return Text(404, "no such CA");
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = Text(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  HttpResponse r;
  r.status = 200;
  if (crl) {
    absl::StatusOr<std::shared_ptr<const std::string>> der =
        CrlOf(it->first, it->second, key_id);
    if (absl::IsNotFound(der.status())) return Text(404, "no such CA key");
    if (!der.ok()) {
      r = Text(absl::IsUnavailable(der.status()) ? 503 : 500, "CRL not available");
      record.detail = der.status().ToString();  // the log line says why
      if (r.status == 503) {
        r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
      }
      return r;
    }
    r.content_type = "application/pkix-crl";  // RFC 2585
    r.shared_body = *std::move(der);  // the kept CRL, not a copy per request
    // A revocation re-signs the CRL at once; caches may keep it 5 minutes,
    // never past its nextUpdate; a poller's If-None-Match gets 304.
    ApplyCrlCaching(crl_validators_.Of(r.shared_body), request, absl::Now(),
                    absl::Seconds(300), r);
    return r;  // HEAD: the HTTP server sends the headers only
  } else {
    absl::StatusOr<std::shared_ptr<const CaSet>> set = it->second.certificates->Get();
    if (!set.ok()) {
      r = Text(503, "CA certificates not yet available");
      r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
      return r;
    }
    r.content_type = "application/pkix-cert";  // RFC 2585
    if (key_id.empty() || key_id == crypto::CaKeyId((*set)->ca.get())) {
      r.body = (*set)->ca_der;
    } else {
      for (const crypto::X509Ptr& previous : (*set)->previous_cas) {
        if (key_id != crypto::CaKeyId(previous.get())) continue;
        absl::StatusOr<std::string> der = crypto::ToDer(previous.get(), i2d_X509);
        if (der.ok()) r.body = *std::move(der);
        break;
      }
      if (r.body.empty()) return Text(404, "no such CA key");
    }
  }
  // A rollover changes the CA certificate at this URL only with its key.
  r.headers.emplace_back("Cache-Control", "max-age=300");
  return r;  // HEAD: the HTTP server sends the headers only
}

HttpResponse ScepService::Ocsp(const HttpRequest& request, absl::string_view encoded) {
  if (request.method != "POST" && request.method != "GET") {
    HttpResponse r = Text(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, POST");
    return r;
  }
  HttpResponse r;
  r.content_type = "application/ocsp-response";  // RFC 6960 appendix C.2
  absl::StatusOr<std::string> der = request.method == "POST"
                                        ? absl::StatusOr<std::string>(request.body)
                                        : OcspResponder::DecodeGetRequest(encoded);
  if (!der.ok()) {
    r.status = 400;
    r.body = OcspResponder::Unsigned(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
    return r;
  }
  std::string malformed;
  // Fresh signatures per client (a flood of distinct serials spends the
  // HSM); reused answers are free.
  absl::Duration retry_after;
  std::function<absl::Status()> limit;
  if (options_.extras.rate_limiter != nullptr && options_.ocsp_fresh_per_client_per_minute > 0) {
    limit = [&]() -> absl::Status {
      absl::StatusOr<redis::RateDecision> decision = options_.extras.rate_limiter->Check(
          {{absl::StrCat("/ocsp:client:", options_.trusted_proxies.ClientOf(request)),
            options_.ocsp_fresh_per_client_per_minute, absl::Minutes(1)}});
      if (!decision.ok()) return absl::UnavailableError("rate limiter");
      if (decision->allowed) return absl::OkStatus();
      if (observers_.metrics != nullptr) observers_.metrics->RateLimited(decision->exceeded);
      retry_after = decision->retry_after;
      return absl::ResourceExhaustedError("too many fresh OCSP answers for this client");
    };
  }
  // RFC 5019 section 2.2: GET answers are for HTTP caches, so the nonce of
  // a GET request is left out; POST echoes it (RFC 8954).
  absl::StatusOr<OcspResponder::Answer> answer = ocsp_->Respond(
      *der, &malformed, limit,
      request.method == "POST" ? OcspResponder::Nonce::kEcho : OcspResponder::Nonce::kIgnore);
  if (absl::IsResourceExhausted(answer.status())) {
    r.status = 429;
    r.body = OcspResponder::Unsigned(OCSP_RESPONSE_STATUS_TRYLATER);
    r.headers.emplace_back(
        "Retry-After",
        std::to_string(std::max<int64_t>(
            1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1))))));
  } else if (absl::IsInvalidArgument(answer.status())) {
    r.status = 400;
    r.body = std::move(malformed);
  } else if (absl::IsUnavailable(answer.status())) {
    r.status = 503;
    r.body = OcspResponder::Unsigned(OCSP_RESPONSE_STATUS_TRYLATER);
    r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
  } else if (!answer.ok()) {
    r.status = 500;
    r.body = OcspResponder::Unsigned(OCSP_RESPONSE_STATUS_INTERNALERROR);
  } else {
    r.status = 200;
    r.body = std::move(answer->der);
    if (request.method == "GET" && answer->signed_answer) {
      // RFC 5019 section 6.2: GET answers may be cached until reused no more.
      r.headers.emplace_back(
          "Cache-Control",
          absl::StrCat("max-age=", absl::ToInt64Seconds(answer->fresh), ", public, no-transform"));
    }
  }
  return r;
}

}  // namespace scep::gateway
