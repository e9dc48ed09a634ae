#include "services/gateway/client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace scep::gateway {
namespace {

// Parses a bare IPv4 or IPv6 address.
bool ParseIp(absl::string_view text, int* family, std::array<uint8_t, 16>* bytes) {
  if (text.empty() || text.size() > 45) return false;
  const std::string s(text);
  bytes->fill(0);
  if (inet_pton(AF_INET, s.c_str(), bytes->data()) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), bytes->data()) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

std::string HostOf(absl::string_view address) {
  if (absl::ConsumePrefix(&address, "[")) {
    return std::string(address.substr(0, address.find(']')));
  }
  // One colon: IPv4 with a port; more: a bare IPv6 address.
  const size_t colon = address.find(':');
  if (colon != absl::string_view::npos && address.find(':', colon + 1) == absl::string_view::npos) {
    return std::string(address.substr(0, colon));
  }
  return std::string(address);
}

absl::StatusOr<TrustedProxies> TrustedProxies::Parse(absl::string_view list) {
  TrustedProxies out;
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    Range range;
    absl::string_view ip = entry;
    const size_t slash = entry.find('/');
    if (slash != absl::string_view::npos) ip = entry.substr(0, slash);
    if (!ParseIp(ip, &range.family, &range.bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted proxy '", entry.substr(0, 64), "' is not an IP address or CIDR"));
    }
    const int max_bits = range.family == AF_INET ? 32 : 128;
    range.prefix_bits = max_bits;
    if (slash != absl::string_view::npos &&
        (!absl::SimpleAtoi(entry.substr(slash + 1), &range.prefix_bits) ||
         range.prefix_bits < 0 || range.prefix_bits > max_bits)) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted proxy '", entry.substr(0, 64), "': bad prefix length"));
    }
    out.ranges_.push_back(range);
  }
  return out;
}

bool TrustedProxies::Trusted(absl::string_view ip) const {
  int family = 0;
  std::array<uint8_t, 16> bytes;
  if (!ParseIp(ip, &family, &bytes)) return false;
  for (const Range& r : ranges_) {
    if (r.family != family) continue;
    const int full = r.prefix_bits / 8;
    const int rest = r.prefix_bits % 8;
    if (std::memcmp(r.bytes.data(), bytes.data(), static_cast<size_t>(full)) != 0) continue;
    if (rest != 0) {
      const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
      if ((r.bytes[static_cast<size_t>(full)] & mask) !=
          (bytes[static_cast<size_t>(full)] & mask)) {
        continue;
      }
    }
    return true;
  }
  return false;
}

std::string TrustedProxies::ClientOf(const HttpRequest& request) const {
  std::string client = HostOf(request.remote_address);
  if (ranges_.empty() || request.forwarded_for.empty() || !Trusted(client)) return client;
  std::vector<absl::string_view> hops =
      absl::StrSplit(request.forwarded_for, ',', absl::SkipWhitespace());
  // At most 32 hops are looked at: a longer chain is not a real path.
  int looked = 0;
  for (auto it = hops.rbegin(); it != hops.rend() && looked < 32; ++it, ++looked) {
    std::string hop = HostOf(absl::StripAsciiWhitespace(*it));
    int family = 0;
    std::array<uint8_t, 16> bytes;
    if (!ParseIp(hop, &family, &bytes)) return client;
    client = std::move(hop);
    if (!Trusted(client)) return client;
  }
  return client;
}

}  // namespace scep::gateway
