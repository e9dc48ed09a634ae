// Checks NewGrpcSignerClient makes of its options before any channel exists.

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/gateway/signer_client.h"

namespace scep::gateway {
namespace {

GrpcSignerOptions Plaintext() {
  GrpcSignerOptions options;
  options.target = "ipv4:127.0.0.1:1";  // never dialled: channels connect lazily
  options.insecure_plaintext = true;
  return options;
}

TEST(SignerClientOptionsTest, DefaultsMakeAClient) {
  absl::StatusOr<std::unique_ptr<SignerClient>> client = NewGrpcSignerClient(Plaintext());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*client, nullptr);
  // The defaults find a silent signer within 15 s.
  EXPECT_EQ(Plaintext().keepalive, absl::Seconds(10));
  EXPECT_EQ(Plaintext().keepalive_timeout, absl::Seconds(5));
}

TEST(SignerClientOptionsTest, KeepaliveOffIsAccepted) {
  GrpcSignerOptions options = Plaintext();
  options.keepalive = absl::ZeroDuration();
  options.keepalive_timeout = absl::ZeroDuration();  // unused when off
  EXPECT_TRUE(NewGrpcSignerClient(options).ok());
}

TEST(SignerClientOptionsTest, KeepaliveFasterThanTheSignerAcceptsIsRefused) {
  // The signer takes a PING every 0.5 s at most; faster ones would earn a
  // GOAWAY ("too_many_pings") and a reconnect.
  GrpcSignerOptions options = Plaintext();
  options.keepalive = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<SignerClient>> client = NewGrpcSignerClient(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(client.status().message(), "keepalive")) << client.status();

  options.keepalive = kMinSignerKeepalive;
  options.keepalive_timeout = absl::Milliseconds(50);
  EXPECT_EQ(NewGrpcSignerClient(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.keepalive_timeout = absl::Milliseconds(100);
  EXPECT_TRUE(NewGrpcSignerClient(options).ok());
}

TEST(SignerClientOptionsTest, PlaintextAndTlsTogetherAreRefused) {
  GrpcSignerOptions options = Plaintext();
  options.tls_ca = "/nonexistent/ca.pem";
  EXPECT_EQ(NewGrpcSignerClient(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace scep::gateway
