#ifndef SCEP_COMMON_REDIS_REDIS_TEST_SERVER_H_
#define SCEP_COMMON_REDIS_REDIS_TEST_SERVER_H_

// Test-only: a throw-away redis-server on a free loopback port, with no
// persistence, in its own temporary directory. Not thread-safe.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scep::redis {

class RedisTestServer {
 public:
  // True when `redis-server` is on PATH.
  static bool Installed();

  // Starts a server (requiring `password` when non-empty) and waits until it
  // answers PING. NotFound when redis-server is not installed; Internal when
  // it does not come up.
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> Start(
      std::string password = "");
  // The same with more redis-server arguments (e.g. --replicaof 127.0.0.1 P).
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> Start(
      std::string password, std::vector<std::string> extra_args);
  // The files of a TLS listener.
  struct TlsFiles {
    std::string cert_file;  // the server's certificate (PEM)
    std::string key_file;   // and its key
    // Non-empty: clients must show a certificate issued by this CA
    // (tls-auth-clients yes); empty: no client certificate asked for.
    std::string client_ca_file;
  };
  // A server that also listens for TLS on tls_port() (the plain port()
  // stays, for Command() and the start-up check).
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> StartTls(
      const TlsFiles& files, std::string password = "",
      std::vector<std::string> extra_args = {});
  // A loopback port that was free a moment ago (racy: for extra_args).
  static int FreePort();

  // A Sentinel (redis-server --sentinel) monitoring the primary
  // 127.0.0.1:`primary_port` as `master_name`, quorum 1, which calls it down
  // after 1 s without an answer; it requires `password` from its clients
  // when non-empty.
  // `extra_config`: more sentinel.conf lines (TLS, say).
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> StartSentinel(
      const std::string& master_name, int primary_port, std::string password = "",
      const std::string& extra_config = "");

  // Kills the server and removes its directory.
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }  // 0 unless StartTls
  bool running() const { return pid_ > 0; }

  // SIGKILLs the server (no goodbye to clients) and reaps it.
  void Kill();
  // SIGSTOPs / SIGCONTs the server: connections stay open, replies stop.
  void Freeze();
  void Thaw();
  // Starts the server again on the same port, empty, and waits for PING.
  absl::Status Restart();

  // Runs one command on a fresh connection. The reply as text: strings and
  // status as-is, integers in decimal, nil as "(nil)", arrays as their
  // elements joined by '\n'. Error replies are Internal.
  absl::StatusOr<std::string> Command(const std::vector<std::string>& argv);

 private:
  RedisTestServer(std::string dir, int port, std::string password,
                  std::vector<std::string> extra_args, std::string sentinel_config)
      : dir_(std::move(dir)),
        port_(port),
        password_(std::move(password)),
        extra_args_(std::move(extra_args)),
        sentinel_config_(std::move(sentinel_config)) {}

  // Start() and StartSentinel(): `sentinel_config` (with PORT for the port)
  // non-empty starts a Sentinel with that configuration.
  static absl::StatusOr<std::unique_ptr<RedisTestServer>> StartOn(
      std::string password, std::vector<std::string> extra_args,
      const std::string& sentinel_config);

  absl::Status Spawn();
  absl::Status AwaitPing();

  const std::string dir_;
  const int port_;
  const std::string password_;
  const std::vector<std::string> extra_args_;
  const std::string sentinel_config_;
  pid_t pid_ = -1;
  int tls_port_ = 0;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_TEST_SERVER_H_
