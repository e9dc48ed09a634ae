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

  // Kills the server and removes its directory.
  ~RedisTestServer();
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  int port() const { return port_; }
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
  RedisTestServer(std::string dir, int port, std::string password)
      : dir_(std::move(dir)), port_(port), password_(std::move(password)) {}

  absl::Status Spawn();
  absl::Status AwaitPing();

  const std::string dir_;
  const int port_;
  const std::string password_;
  pid_t pid_ = -1;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REDIS_TEST_SERVER_H_
