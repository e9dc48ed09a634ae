#include "common/crypto/publication_uri.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace scep::crypto {

absl::Status CheckPublicationUris(const std::vector<std::string>& uris,
                                  absl::string_view what, bool ldap_allowed) {
  const std::string prefix = what.empty() ? "" : absl::StrCat(what, ": ");
  if (uris.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, "at most 4 URIs"));
  }
  for (const std::string& uri : uris) {
    auto refuse = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "'", absl::CHexEscape(absl::string_view(uri).substr(0, 100)), "' ", why));
    };
    if (uri.empty() || uri.size() > 1024) return refuse("must be 1..1024 characters");
    for (char c : uri) {
      if (c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>') {
        return refuse("has a character a URI may not carry (space, quote, control)");
      }
    }
    absl::string_view rest = uri;
    if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://") &&
        !(ldap_allowed && absl::ConsumePrefix(&rest, "ldap://"))) {
      return refuse(ldap_allowed ? "is not an http://, https:// or ldap:// URI"
                                 : "is not an http:// or https:// URI");
    }
    if (rest.empty() || rest[0] == '/' || rest[0] == ':' || rest[0] == '?') {
      return refuse("has no host");
    }
  }
  return absl::OkStatus();
}

}  // namespace scep::crypto
