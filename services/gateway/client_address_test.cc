#include "services/gateway/client_address.h"

#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

HttpRequest From(const std::string& peer, const std::string& xff = "") {
  HttpRequest r;
  r.remote_address = peer;
  r.forwarded_for = xff;
  return r;
}

TEST(HostOfTest, StripsPorts) {
  EXPECT_EQ(HostOf("192.0.2.7:4711"), "192.0.2.7");
  EXPECT_EQ(HostOf("[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(HostOf("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(HostOf("192.0.2.7"), "192.0.2.7");
}

TEST(TrustedProxiesTest, WithoutTrustTheHeaderIsIgnored) {
  TrustedProxies none = TrustedProxies::Parse("").value();
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.ClientOf(From("10.0.0.5:1", "198.51.100.9")), "10.0.0.5");
}

TEST(TrustedProxiesTest, UntrustedPeerCannotSpoofItsAddress) {
  TrustedProxies proxies = TrustedProxies::Parse("10.0.0.0/8").value();
  EXPECT_EQ(proxies.ClientOf(From("203.0.113.4:1", "198.51.100.9")), "203.0.113.4");
}

TEST(TrustedProxiesTest, RightmostUntrustedHopIsTheClient) {
  TrustedProxies proxies = TrustedProxies::Parse("10.0.0.0/8, 192.0.2.1, fd00::/8").value();
  // Device 198.51.100.9 → ingress 10.1.1.1 → gateway; the device's own
  // header (1.2.3.4) is left of what the trusted proxy appended.
  EXPECT_EQ(proxies.ClientOf(From("10.1.1.1:1", "1.2.3.4, 198.51.100.9")), "198.51.100.9");
  // Two trusted hops.
  EXPECT_EQ(proxies.ClientOf(From("10.1.1.1:1", "198.51.100.9, 192.0.2.1")), "198.51.100.9");
  EXPECT_EQ(proxies.ClientOf(From("[fd00::1]:1", "2001:db8::7")), "2001:db8::7");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(proxies.ClientOf(From("10.1.1.1:1", "10.2.2.2")), "10.2.2.2");
  // A malformed entry stops at the hop that reported it.
  EXPECT_EQ(proxies.ClientOf(From("10.1.1.1:1", "garbage, 10.2.2.2")), "10.2.2.2");
  EXPECT_EQ(proxies.ClientOf(From("10.1.1.1:1", "not-an-ip")), "10.1.1.1");
  // Prefix boundaries.
  TrustedProxies narrow = TrustedProxies::Parse("192.0.2.128/25").value();
  EXPECT_EQ(narrow.ClientOf(From("192.0.2.200:1", "198.51.100.9")), "198.51.100.9");
  EXPECT_EQ(narrow.ClientOf(From("192.0.2.100:1", "198.51.100.9")), "192.0.2.100");
}

TEST(TrustedProxiesTest, RefusesBadEntries) {
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "nonsense", "10.0.0.0/x", "1.2.3/8"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(TrustedProxies::Parse(bad).status())) << bad;
  }
}

}  // namespace
}  // namespace scep::gateway
