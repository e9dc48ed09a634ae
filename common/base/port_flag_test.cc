#include "common/base/port_flag.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace scep::base {
namespace {

TEST(PortFromFlagTest, RefusesWhatAPortCannotHold) {
  EXPECT_EQ(PortFromFlag("--http_port", 8080).value(), 8080);
  EXPECT_EQ(PortFromFlag("--http_port", 0).value(), 0);
  EXPECT_EQ(PortFromFlag("--http_port", 65535).value(), 65535);
  for (int bad : {65536, 70000, -1}) {
    absl::StatusOr<uint16_t> port = PortFromFlag("--http_port", bad);
    ASSERT_FALSE(port.ok()) << bad;
    EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(port.status().message(), "--http_port must be 0 to 65535"))
        << port.status();
  }
  EXPECT_FALSE(PortFromFlag("--redis_port", 0, 1).ok());
  EXPECT_EQ(PortFromFlag("--redis_port", 1, 1).value(), 1);
}

TEST(CheckHostPortFlagTest, RefusesAPortTheResolverWouldWrap) {
  for (const char* good : {"0.0.0.0:9090", "[::]:9090", "127.0.0.1:0", "localhost:65535",
                           "unix:/run/scep.sock", "::1", "host"}) {
    EXPECT_TRUE(CheckHostPortFlag("--listen", good).ok()) << good;
  }
  for (const char* bad : {"0.0.0.0:65536", "[::1]:70000", "h:999999999999"}) {
    absl::Status status = CheckHostPortFlag("--listen", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(status.message(), "--listen: port")) << status;
  }
}

}  // namespace
}  // namespace scep::base
