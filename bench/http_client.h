#ifndef SCEP_BENCH_HTTP_CLIENT_H_
#define SCEP_BENCH_HTTP_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::bench {

// http://host:port/path, the only URL form the generator drives.
struct HttpUrl {
  std::string host;
  int port = 80;
  std::string path;  // begins with '/'
};

// InvalidArgument unless `url` is http://host[:port][/path].
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url);

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  // Retry-After in seconds (RFC 9110 section 10.2.3, delay-seconds form);
  // -1 when absent or not a number.
  int retry_after = -1;
};

// One keep-alive HTTP/1.1 connection over a blocking POSIX socket. It
// understands Content-Length and chunked bodies (Go's net/http, which
// micromdm uses, chunks bodies over 2 KiB) and reconnects by itself when
// the server closes the connection between requests.
//
// Not thread-safe: one connection per load thread.
class HttpConnection {
 public:
  explicit HttpConnection(HttpUrl url) : url_(std::move(url)) {}
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  ~HttpConnection();

  // Sends one request for `target` (path and query) and reads the whole
  // response. An empty `body` with method GET sends no body. Unavailable on
  // connect, send or receive errors (the connection is then dropped and the
  // next call reconnects); InvalidArgument on a malformed response.
  absl::StatusOr<HttpResponse> RoundTrip(absl::string_view method,
                                         absl::string_view target,
                                         absl::string_view body,
                                         absl::string_view content_type);

  // Connections opened so far (1 when keep-alive held throughout).
  int connects() const { return connects_; }

 private:
  absl::Status Connect();
  void Close();
  absl::Status SendAll(absl::string_view data);
  // Appends received bytes to buf_; Unavailable on EOF or error.
  absl::Status Fill();
  absl::StatusOr<std::string> ReadLine();
  absl::Status ReadExactly(size_t n, std::string& out);
  absl::Status ReadChunked(std::string& out);

  HttpUrl url_;
  int fd_ = -1;
  int connects_ = 0;
  std::string buf_;
  size_t pos_ = 0;  // consumed prefix of buf_
};

}  // namespace scep::bench

#endif  // SCEP_BENCH_HTTP_CLIENT_H_
