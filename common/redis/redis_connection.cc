// One connection to Redis (redis_connection.h): hiredis over TCP, or
// hiredis's encoder and reader with OpenSSL carrying the bytes.

#include "common/redis/redis_connection.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/crypto/ssl_error.h"
#include "common/crypto/tls_peer.h"

namespace scep::redis::internal {
namespace {

// hiredis writes with write(2), and so does OpenSSL's socket BIO: a peer
// that reset the connection would raise SIGPIPE and kill the process. Block
// it on this thread for the duration of a command and swallow any SIGPIPE
// the command caused, without touching process-wide signal handling that
// belongs to main().
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    already_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    sigset_t pending;
    sigemptyset(&pending);
    if (!already_pending_ && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero = {0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool already_pending_ = false;
  bool blocked_ = false;
};

absl::Status TransportError(absl::string_view operation, const redisContext* context) {
  return absl::UnavailableError(absl::StrCat(
      "Redis ", operation, ": ", context->err != 0 ? context->errstr : "no reply from server"));
}

// A command's arguments as hiredis takes them (binary-safe).
struct Args {
  explicit Args(absl::Span<const absl::string_view> argv) {
    pointers.reserve(argv.size());
    lengths.reserve(argv.size());
    for (absl::string_view arg : argv) {
      pointers.push_back(arg.data());
      lengths.push_back(arg.size());
    }
  }
  int argc() const { return static_cast<int>(pointers.size()); }
  std::vector<const char*> pointers;
  std::vector<size_t> lengths;
};

std::string Where(const RedisEndpoint& endpoint) {
  return absl::StrCat(endpoint.host, ":", endpoint.port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const RedisEndpoint& endpoint, const ConnectionSettings& settings,
    absl::string_view operation) {
  redisContext* context = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port,
                                                  absl::ToTimeval(settings.connect_timeout));
  if (context == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("Redis ", operation, ": out of memory for a connection"));
  }
  std::unique_ptr<RedisConnection> connection(
      new RedisConnection(context, endpoint, settings.sigpipe_ignored));
  if (context->err != 0) {
    return absl::UnavailableError(absl::StrCat("Redis ", operation, ": connect to ",
                                               Where(endpoint), ": ", context->errstr));
  }
  if (redisEnableKeepAlive(context) != REDIS_OK) return TransportError(operation, context);
  if (settings.tls != nullptr) {
    // Each step of the handshake within the connect timeout.
    if (redisSetTimeout(context, absl::ToTimeval(settings.connect_timeout)) != REDIS_OK) {
      return TransportError(operation, context);
    }
    RETURN_IF_ERROR(connection->Handshake(settings, operation));
  }
  if (redisSetTimeout(context, absl::ToTimeval(settings.command_timeout)) != REDIS_OK) {
    return TransportError(operation, context);
  }
  return connection;
}

absl::Status RedisConnection::Handshake(const ConnectionSettings& settings,
                                        absl::string_view operation) {
  ERR_clear_error();
  reader_ = redisReaderCreate();
  ssl_ = SSL_new(settings.tls.get());  // holds its own reference to the SSL_CTX
  if (reader_ == nullptr || ssl_ == nullptr || SSL_set_fd(ssl_, context_->fd) != 1) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("Redis ", operation, ": TLS to ",
                                               Where(endpoint_), ": set-up failed: ",
                                               ssl_ != nullptr
                                                   ? crypto::TlsFailure(ssl_, "out of memory")
                                                   : crypto::DrainSslErrors()));
  }
  const std::string& name =
      settings.tls_server_name.empty() ? endpoint_.host : settings.tls_server_name;
  if (absl::Status named = crypto::ExpectPeerName(ssl_, name); !named.ok()) {
    broken_ = true;
    return absl::UnavailableError(absl::StrCat("Redis ", operation, ": TLS to ",
                                               Where(endpoint_), ": ", named.message()));
  }
  // A reply's record in one read(2) instead of its header and then its
  // body; what else arrives stays buffered (StillOpen sees it).
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_cert_cb(
      ssl_,
      [](SSL*, void* self) {
        static_cast<RedisConnection*>(self)->certificate_requested_ = true;
        return 1;
      },
      this);
  std::optional<ScopedSigpipeBlock> no_sigpipe;
  if (!sigpipe_ignored_) no_sigpipe.emplace();
  const int result = SSL_connect(ssl_);
  const int saved_errno = errno;
  if (result == 1) return absl::OkStatus();
  broken_ = true;
  const int error = SSL_get_error(ssl_, result);
  std::string why;
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    why = absl::StrCat("timed out after ", absl::FormatDuration(settings.connect_timeout),
                       " (does the server speak TLS on this port?)");
  } else if (error == SSL_ERROR_SYSCALL && saved_errno != 0) {
    why = strerror(saved_errno);
    ERR_clear_error();
  } else {
    why = crypto::TlsFailure(ssl_, "the server closed the connection");
  }
  return absl::UnavailableError(absl::StrCat("Redis ", operation, ": TLS handshake with ",
                                             Where(endpoint_), " failed: ", why,
                                             MissingCertificate()));
}

std::string RedisConnection::MissingCertificate() const {
  if (!certificate_requested_ || SSL_get_certificate(ssl_) != nullptr) return "";
  return " (the server asked for a client certificate and none is configured)";
}

RedisConnection::~RedisConnection() {
  if (ssl_ != nullptr) {
    // close_notify, best effort, when the connection is still in order
    // (a broken one may be mid-record, or its peer gone).
    if (!broken_) {
      std::optional<ScopedSigpipeBlock> no_sigpipe;
      if (!sigpipe_ignored_) no_sigpipe.emplace();
      SSL_shutdown(ssl_);
    }
    SSL_free(ssl_);
    ERR_clear_error();
  }
  if (reader_ != nullptr) redisReaderFree(reader_);
  redisFree(context_);
}

absl::StatusOr<RedisReplyPtr> RedisConnection::Command(
    absl::string_view operation, absl::Span<const absl::string_view> argv) {
  std::optional<ScopedSigpipeBlock> no_sigpipe;
  if (!sigpipe_ignored_) no_sigpipe.emplace();
  if (ssl_ != nullptr) return TlsCommand(operation, argv);
  Args args(argv);
  RedisReplyPtr reply(static_cast<redisReply*>(
      redisCommandArgv(context_, args.argc(), args.pointers.data(), args.lengths.data())));
  if (reply == nullptr || context_->err != 0) return TransportError(operation, context_);
  return reply;
}

absl::StatusOr<RedisReplyPtr> RedisConnection::TlsCommand(
    absl::string_view operation, absl::Span<const absl::string_view> argv) {
  if (broken_) {
    return absl::UnavailableError(
        absl::StrCat("Redis ", operation, ": the TLS connection failed before"));
  }
  Args args(argv);
  char* command = nullptr;
  const int length =
      redisFormatCommandArgv(&command, args.argc(), args.pointers.data(), args.lengths.data());
  if (length < 0 || command == nullptr) {
    broken_ = true;
    return absl::UnavailableError(
        absl::StrCat("Redis ", operation, ": out of memory for a command"));
  }
  // SSL_get_error reads this thread's error queue: it must hold nothing
  // from before.
  crypto::ClearStaleSslErrors();
  size_t written = 0;
  const int wrote = SSL_write_ex(ssl_, command, static_cast<size_t>(length), &written);
  const int write_errno = errno;
  redisFreeCommand(command);
  if (wrote != 1) {
    errno = write_errno;  // TlsError reads it
    return TlsError(operation, wrote);
  }
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      broken_ = true;
      return absl::UnavailableError(
          absl::StrCat("Redis ", operation, ": protocol error: ", reader_->errstr));
    }
    if (reply != nullptr) return RedisReplyPtr(static_cast<redisReply*>(reply));
    char buffer[16 * 1024];
    size_t got = 0;
    const int read = SSL_read_ex(ssl_, buffer, sizeof(buffer), &got);
    if (read != 1) return TlsError(operation, read);
    if (redisReaderFeed(reader_, buffer, got) != REDIS_OK) {
      broken_ = true;
      return absl::UnavailableError(
          absl::StrCat("Redis ", operation, ": protocol error: ", reader_->errstr));
    }
  }
}

absl::Status RedisConnection::TlsError(absl::string_view operation, int result) {
  broken_ = true;
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl_, result);
  std::string why;
  switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      // SO_RCVTIMEO / SO_SNDTIMEO ran out (EAGAIN on a blocking socket).
      why = "timed out (Resource temporarily unavailable)";
      break;
    case SSL_ERROR_ZERO_RETURN:
      why = "Server closed the connection";
      break;
    case SSL_ERROR_SYSCALL:
      why = saved_errno != 0 ? strerror(saved_errno) : "Server closed the connection";
      break;
    default:
      // A TLS alert (TLS 1.3 servers refuse a missing client certificate
      // only here, at the first read), or a record that does not decrypt.
      why = crypto::TlsFailure(ssl_, "Server closed the connection");
      break;
  }
  ERR_clear_error();
  return absl::UnavailableError(
      absl::StrCat("Redis ", operation, ": TLS: ", why, MissingCertificate()));
}

bool RedisConnection::StillOpen() const {
  if (context_->err != 0 || broken_) return false;
  // Bytes waiting in OpenSSL (decrypted, or read ahead and not yet
  // processed), or anything at all on the socket (a close, a reset, a
  // close_notify, a record nobody asked for): not reusable.
  if (ssl_ != nullptr && SSL_has_pending(ssl_) == 1) return false;
  char byte;
  const ssize_t n = recv(context_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace scep::redis::internal
