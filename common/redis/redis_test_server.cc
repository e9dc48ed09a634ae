#include "common/redis/redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace scep::redis {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(10);

// A port the kernel just handed out; racy by nature, so Start() retries.
int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

std::string Render(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      return absl::StrCat(reply.integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::vector<std::string> parts;
      for (size_t i = 0; i < reply.elements; ++i) {
        parts.push_back(Render(*reply.element[i]));
      }
      return absl::StrJoin(parts, "\n");
    }
    default:
      return std::string(reply.str, reply.len);
  }
}

std::string LogTail(const std::string& dir) {
  std::ifstream log(dir + "/redis.log");
  std::string text((std::istreambuf_iterator<char>(log)),
                   std::istreambuf_iterator<char>());
  constexpr size_t kTail = 400;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

}  // namespace

bool RedisTestServer::Installed() {
  const char* path = getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    const std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::Start(
    std::string password) {
  return StartOn(std::move(password), {}, "");
}

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::Start(
    std::string password, std::vector<std::string> extra_args) {
  return StartOn(std::move(password), std::move(extra_args), "");
}

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::StartTls(
    const TlsFiles& files, std::string password, std::vector<std::string> extra_args) {
  absl::Status last = absl::InternalError("no free loopback port");
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int tls_port = PickFreePort();
    if (tls_port <= 0) continue;
    std::vector<std::string> args = {"--tls-port",      absl::StrCat(tls_port),
                                     "--tls-cert-file", files.cert_file,
                                     "--tls-key-file",  files.key_file};
    if (files.client_ca_file.empty()) {
      args.insert(args.end(), {"--tls-auth-clients", "no"});
    } else {
      args.insert(args.end(),
                  {"--tls-auth-clients", "yes", "--tls-ca-cert-file", files.client_ca_file});
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<std::unique_ptr<RedisTestServer>> server = Start(password, std::move(args));
    if (server.ok()) {
      (*server)->tls_port_ = tls_port;
      return server;
    }
    last = server.status();
  }
  return last;
}

int RedisTestServer::FreePort() { return PickFreePort(); }

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::StartSentinel(
    const std::string& master_name, int primary_port, std::string password,
    const std::string& extra_config) {
  std::string config = absl::StrCat(
      "port PORT\nbind 127.0.0.1\n",
      "sentinel monitor ", master_name, " 127.0.0.1 ", primary_port, " 1\n",
      "sentinel down-after-milliseconds ", master_name, " 1000\n",
      "sentinel failover-timeout ", master_name, " 10000\n");
  if (!password.empty()) absl::StrAppend(&config, "requirepass ", password, "\n");
  absl::StrAppend(&config, extra_config);
  return StartOn(std::move(password), {}, config);
}

absl::StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::StartOn(
    std::string password, std::vector<std::string> extra_args,
    const std::string& sentinel_config) {
  if (!Installed()) return absl::NotFoundError("redis-server not on PATH");
  const char* tmp = getenv("TMPDIR");
  const std::string pattern = absl::StrCat(
      tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/scep-redis-XXXXXX");
  absl::Status last = absl::InternalError("no free loopback port");
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = PickFreePort();
    if (port <= 0) continue;
    std::string dir = pattern;
    if (mkdtemp(dir.data()) == nullptr) {
      return absl::InternalError("mkdtemp failed");
    }
    // On failure the destructor kills the process and removes `dir`.
    std::unique_ptr<RedisTestServer> server(new RedisTestServer(
        std::move(dir), port, password, extra_args,
        absl::StrReplaceAll(sentinel_config, {{"PORT", absl::StrCat(port)}})));
    last = server->Restart();
    if (last.ok()) return server;
  }
  return last;
}

RedisTestServer::~RedisTestServer() {
  Kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void RedisTestServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisTestServer::Freeze() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void RedisTestServer::Thaw() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

absl::Status RedisTestServer::Restart() {
  Kill();
  if (absl::Status spawned = Spawn(); !spawned.ok()) return spawned;
  return AwaitPing();
}

absl::Status RedisTestServer::Spawn() {
  std::vector<std::string> args = {
      "redis-server", "--port",    absl::StrCat(port_), "--bind", "127.0.0.1",
      "--save",       "",          "--appendonly",      "no",     "--dir",
      dir_,           "--logfile", dir_ + "/redis.log"};
  if (!sentinel_config_.empty()) {
    // A Sentinel rewrites its configuration file (what it learnt of the
    // primary and replicas): written once, kept across Restart().
    const std::string path = dir_ + "/sentinel.conf";
    if (!std::filesystem::exists(path)) {
      std::ofstream(path) << sentinel_config_ << "dir " << dir_ << "\nlogfile "
                          << dir_ << "/redis.log\n";
    }
    args = {"redis-server", path, "--sentinel"};
  } else if (!password_.empty()) {
    args.push_back("--requirepass");
    args.push_back(password_);
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = dir_ + "/stdout.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int rc = posix_spawnp(&pid_, "redis-server", &actions, nullptr,
                              argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError(absl::StrCat("posix_spawnp redis-server: ", rc));
  }
  return absl::OkStatus();
}

absl::Status RedisTestServer::AwaitPing() {
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("redis-server exited on port ",
                                              port_, ": ", LogTail(dir_)));
    }
    absl::StatusOr<std::string> pong = Command({"PING"});
    if (pong.ok() && *pong == "PONG") return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::InternalError(
      absl::StrCat("redis-server on port ", port_, " did not answer PING"));
}

absl::StatusOr<std::string> RedisTestServer::Command(
    const std::vector<std::string>& argv) {
  std::unique_ptr<redisContext, ContextDeleter> context(redisConnectWithTimeout(
      "127.0.0.1", port_, absl::ToTimeval(absl::Seconds(1))));
  if (context == nullptr || context->err != 0) {
    return absl::UnavailableError("cannot connect to redis-server");
  }
  redisSetTimeout(context.get(), absl::ToTimeval(absl::Seconds(5)));
  auto run =
      [&context](
          const std::vector<std::string>& args) -> absl::StatusOr<std::string> {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const std::string& arg : args) {
      ptrs.push_back(arg.data());
      lens.push_back(arg.size());
    }
    std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(
        redisCommandArgv(context.get(), static_cast<int>(args.size()),
                         ptrs.data(), lens.data())));
    if (reply == nullptr) return absl::UnavailableError(context->errstr);
    if (reply->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(std::string(reply->str, reply->len));
    }
    return Render(*reply);
  };
  if (!password_.empty()) {
    absl::StatusOr<std::string> auth = run({"AUTH", password_});
    if (!auth.ok()) return auth.status();
  }
  return run(argv);
}

}  // namespace scep::redis
