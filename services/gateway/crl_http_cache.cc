#include "services/gateway/crl_http_cache.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/crypto/der.h"
#include "common/crypto/ssl_ptr.h"

namespace scep::gateway {
namespace {

constexpr char kHttpDate[] = "%a, %d %b %Y %H:%M:%S GMT";  // RFC 9110 IMF-fixdate

absl::Time AsTime(const ASN1_TIME* t) {
  const int64_t seconds = crypto::UnixSeconds(t);  // 0: absent or unreadable
  return seconds == 0 ? absl::InfinitePast() : absl::FromUnixSeconds(seconds);
}

CrlValidators Compute(const std::string& der) {
  CrlValidators v;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha256(), nullptr) == 1) {
    // 128 bits of the digest name the CRL well enough.
    v.etag = absl::StrCat("\"", absl::BytesToHexString(absl::string_view(
                                    reinterpret_cast<const char*>(digest), 16)),
                          "\"");
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (crl != nullptr) {
    v.this_update = AsTime(X509_CRL_get0_lastUpdate(crl.get()));
    v.next_update = AsTime(X509_CRL_get0_nextUpdate(crl.get()));
  }
  return v;
}

// RFC 9110 section 13.1.2: a list of entity tags (weak ones compare
// weakly, which for a GET is what If-None-Match asks), or "*".
bool NamesEtag(absl::string_view header, absl::string_view etag) {
  if (etag.empty()) return false;
  for (absl::string_view tag : absl::StrSplit(header, ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag == "*") return true;
    absl::ConsumePrefix(&tag, "W/");
    if (tag == etag) return true;
  }
  return false;
}

}  // namespace

CrlValidators CrlValidatorCache::Of(const std::shared_ptr<const std::string>& der) {
  {
    absl::MutexLock lock(&mu_);
    for (const Entry& e : entries_) {
      if (e.der.lock() == der) return e.validators;
    }
  }
  CrlValidators computed = Compute(*der);  // outside the lock: megabytes
  absl::MutexLock lock(&mu_);
  // CRLs no longer served (replaced by newer ones) go.
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const Entry& e) { return e.der.expired(); }),
                 entries_.end());
  entries_.push_back({der, computed});
  return computed;
}

void ApplyCrlCaching(const CrlValidators& crl, const HttpRequest& request, absl::Time now,
                     absl::Duration max_age, HttpResponse& response) {
  if (!crl.etag.empty()) response.headers.emplace_back("ETag", crl.etag);
  if (crl.this_update != absl::InfinitePast()) {
    response.headers.emplace_back("Last-Modified",
                                  absl::FormatTime(kHttpDate, crl.this_update,
                                                   absl::UTCTimeZone()));
  }
  // A cache must not hand out a CRL past its nextUpdate: relying parties
  // refuse an expired CRL, and most then fail closed.
  const absl::Duration left = std::min(max_age, crl.next_update - now);
  response.headers.emplace_back(
      "Cache-Control", left >= absl::Seconds(1)
                           ? absl::StrCat("max-age=", absl::ToInt64Seconds(left))
                           : std::string("no-cache"));
  bool not_modified = false;
  if (!request.if_none_match.empty()) {
    not_modified = NamesEtag(request.if_none_match, crl.etag);
  } else if (!request.if_modified_since.empty() && crl.this_update != absl::InfinitePast()) {
    absl::Time since;
    std::string error;
    not_modified = absl::ParseTime(kHttpDate, request.if_modified_since,
                                   absl::UTCTimeZone(), &since, &error) &&
                   crl.this_update <= since;
  }
  if (not_modified) {
    response.status = 304;  // the server sends it without a body
    response.content_type.clear();
    response.body.clear();
    response.shared_body.reset();
  }
}

}  // namespace scep::gateway
