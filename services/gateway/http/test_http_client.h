#ifndef SCEP_SERVICES_GATEWAY_HTTP_TEST_HTTP_CLIENT_H_
#define SCEP_SERVICES_GATEWAY_HTTP_TEST_HTTP_CLIENT_H_

// Test-only: a deliberately dumb HTTP client over a raw POSIX socket, so
// tests can send exactly the bytes they want (pipelining, garbage, limits).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace scep::gateway::test {

struct RawResponse {
  int status = 0;
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Value of the first header named `name` (any case); nullopt if absent.
  std::optional<std::string> Header(absl::string_view name) const;
};

class RawClient {
 public:
  // Connects to 127.0.0.1:`port`; nullptr on failure. Reads time out after
  // `read_timeout` so a broken server fails a test instead of hanging it.
  static std::unique_ptr<RawClient> Connect(
      uint16_t port, absl::Duration read_timeout = absl::Seconds(5));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Writes all of `bytes`; false on error.
  bool Send(absl::string_view bytes);

  // Reads one response: status line, headers and a Content-Length body
  // (interim 1xx responses are returned like any other). nullopt on EOF,
  // reset, timeout or a malformed response.
  std::optional<RawResponse> ReadResponse();

  // True when the server closes the connection (EOF or reset) within
  // `timeout` without sending anything more.
  bool WaitForClose(absl::Duration timeout);

 private:
  explicit RawClient(int fd) : fd_(fd) {}
  // Appends received bytes to buffer_; false on EOF, error or timeout.
  bool Fill();

  int fd_;
  std::string buffer_;
};

}  // namespace scep::gateway::test

#endif  // SCEP_SERVICES_GATEWAY_HTTP_TEST_HTTP_CLIENT_H_
