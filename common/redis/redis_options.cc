#include "common/redis/redis_options.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace scep::redis {

absl::StatusOr<std::vector<RedisEndpoint>> ParseRedisEndpoints(absl::string_view list,
                                                               int default_port) {
  std::vector<RedisEndpoint> endpoints;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    RedisEndpoint endpoint{"", default_port};
    absl::string_view host = item;
    absl::string_view port;
    if (absl::ConsumePrefix(&host, "[")) {  // [IPv6]:port
      const size_t close = host.find(']');
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("'", item, "': no ] after the IPv6 address"));
      }
      absl::string_view rest = host.substr(close + 1);
      host = host.substr(0, close);
      if (!rest.empty() && !absl::ConsumePrefix(&rest, ":")) {
        return absl::InvalidArgumentError(absl::StrCat("'", item, "': expected :port after ]"));
      }
      port = rest;
    } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
      if (host.find(':') != colon) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", item, "': write an IPv6 address as [address]:port"));
      }
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("'", item, "': no host"));
    }
    if (!port.empty() &&
        (!absl::SimpleAtoi(port, &endpoint.port) || endpoint.port < 1 || endpoint.port > 65535)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", item, "': the port must be 1 to 65535"));
    }
    endpoint.host = std::string(host);
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

}  // namespace scep::redis
