#include "services/gateway/challenge_verifier.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/gateway/http_post.h"

namespace scep::gateway {
namespace {

class HttpChallengeVerifier final : public ChallengeVerifier {
 public:
  absl::StatusOr<bool> Verify(const Profile& profile,
                              const VerifyRequest& request) override {
    absl::StatusOr<HttpUrl> url = ParseHttpUrl(profile.verifier_url, "verifier_url");
    if (!url.ok()) return url.status();
    const std::string body = absl::StrCat(
        "{\"profile\":", JsonQuoted(profile.name),
        ",\"transaction_id\":", JsonQuoted(request.transaction_id),
        ",\"challenge\":", JsonQuoted(request.challenge),
        ",\"csr\":", JsonQuoted(absl::Base64Escape(request.csr)),
        ",\"subject\":", JsonQuoted(request.subject), "}");
    absl::StatusOr<HttpAnswer> answer =
        client_.Post(*url, body, absl::Now() + profile.verifier_timeout, "verifier", "",
                     profile.verifier_tls.get());
    if (!answer.ok()) return answer.status();
    const int code = answer->status;
    if (code == 401 || code == 403) return false;
    if (code != 200) return absl::UnavailableError(absl::StrCat("verifier answered HTTP ", code));
    std::string json = std::move(answer->body);
    json.erase(std::remove_if(json.begin(), json.end(),
                              [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }),
               json.end());
    if (absl::StrContains(json, "\"allow\":true")) return true;
    if (absl::StrContains(json, "\"allow\":false")) return false;
    return absl::UnavailableError("verifier answer lacks \"allow\"");
  }

 private:
  // Kept-alive connections shared by the request threads: an enrollment
  // costs the verifier one request, not a TCP (and TLS) handshake too.
  KeptAliveHttpClient client_{32};
};

}  // namespace

std::unique_ptr<ChallengeVerifier> NewHttpChallengeVerifier() {
  return std::make_unique<HttpChallengeVerifier>();
}

}  // namespace scep::gateway
