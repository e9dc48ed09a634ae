#include "common/redis/redis_connection_pool.h"

#include <signal.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/base/status_macros.h"
#include "common/redis/redis_connection_internal.h"
#include "common/redis/unconfirmed_write.h"

namespace scep::redis {
namespace {

// Whether SIGPIPE is ignored process-wide (the gateway's main() sets
// SIG_IGN first thing): then a reset connection cannot raise it and the
// per-command block (four system calls) is not needed.
bool SigpipeIgnored() {
  struct sigaction current;
  return sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
}

}  // namespace

namespace internal {

absl::Status SetUp(RedisConnection* context, absl::string_view operation,
                   absl::string_view what, absl::Span<const absl::string_view> argv,
                   bool* refused, absl::string_view secret) {
  ASSIGN_OR_RETURN(RedisReplyPtr reply, Send(context, operation, argv));
  if (reply->type == REDIS_REPLY_ERROR) {
    *refused = true;
    std::string text(reply->str, reply->len);
    if (!secret.empty()) text = absl::StrReplaceAll(text, {{secret, "***"}});
    return absl::UnavailableError(
        absl::StrCat("Redis ", operation, ": ", what, " refused: ", text));
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace {

// Error replies that mean the connection's identity cannot run commands at
// all (no AUTH, wrong credentials, ACL refusal): a deployment fault, not a
// property of the request, so callers see Unavailable like any outage.
bool AccessRefused(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return false;
  const absl::string_view text(reply.str, reply.len);
  return absl::StartsWith(text, "NOAUTH") || absl::StartsWith(text, "NOPERM") ||
         absl::StartsWith(text, "WRONGPASS");
}

// Error replies of a server that is a replica (READONLY: it refuses
// writes; MASTERDOWN: it lost its primary and serves nothing): the
// connection reaches the wrong server for this pool, whatever the command.
bool ReachedReplica(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return false;
  const absl::string_view text(reply.str, reply.len);
  return absl::StartsWith(text, "READONLY") || absl::StartsWith(text, "MASTERDOWN");
}

// Error replies of a server that did not run the command and may later:
// still loading its AOF after a restart, busy with a script, full
// (maxmemory reached under noeviction), short of the replicas
// min-replicas-to-write asks for, a cluster not serving.
bool NotNow(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return false;
  const absl::string_view text(reply.str, reply.len);
  for (absl::string_view prefix :
       {"LOADING", "BUSY", "OOM", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"}) {
    if (absl::StartsWith(text, prefix)) return true;
  }
  return false;
}

// Error replies only a Redis Cluster node gives (a key another node
// serves, keys of one command in several hash slots): the gateway's scripts
// keep a transaction's keys together on one server, so it needs a single
// primary (cluster mode disabled), whatever this one command was.
bool ClusterNode(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return false;
  const absl::string_view text(reply.str, reply.len);
  return absl::StartsWith(text, "MOVED ") || absl::StartsWith(text, "ASK ") ||
         absl::StartsWith(text, "CROSSSLOT");
}

}  // namespace

using internal::Send;
using internal::SetUp;
using internal::StillOpen;

absl::StatusOr<std::unique_ptr<RedisConnectionPool>> RedisConnectionPool::New(
    RedisOptions options) {
  if (options.host.empty()) {
    return absl::FailedPreconditionError("Redis host must not be empty");
  }
  if (options.port < 1 || options.port > 65535) {
    return absl::FailedPreconditionError("Redis port must be 1 to 65535");
  }
  if (options.db < 0) {
    return absl::FailedPreconditionError("Redis db must not be negative");
  }
  if (options.connect_timeout < absl::Milliseconds(1) ||
      options.command_timeout < absl::Milliseconds(1) ||
      options.connect_timeout == absl::InfiniteDuration() ||
      options.command_timeout == absl::InfiniteDuration()) {
    return absl::FailedPreconditionError(
        "Redis timeouts must be finite and at least 1ms");
  }
  if (options.pool_size < 1) {
    return absl::FailedPreconditionError("Redis pool size must be at least 1");
  }
  if (!options.username.empty() && options.password.empty()) {
    return absl::FailedPreconditionError(
        "Redis username needs a password (ACL AUTH takes both)");
  }
  if (!options.sentinel_username.empty() && options.sentinel_password.empty()) {
    return absl::FailedPreconditionError(
        "Sentinel username needs a Sentinel password (ACL AUTH takes both)");
  }
  if (!options.tls_server_name.empty() && options.tls == nullptr) {
    return absl::FailedPreconditionError(
        "a Redis TLS server name needs TLS to Redis (no TLS context given)");
  }
  if (!options.sentinels.empty() && options.sentinel_master.empty()) {
    return absl::FailedPreconditionError(
        "Redis Sentinel needs the name of the primary it monitors");
  }
  for (const RedisEndpoint& sentinel : options.sentinels) {
    if (sentinel.host.empty() || sentinel.port < 1 || sentinel.port > 65535) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Redis Sentinel address '", sentinel.host, ":", sentinel.port,
          "' needs a host and a port of 1 to 65535"));
    }
  }
  return std::unique_ptr<RedisConnectionPool>(
      new RedisConnectionPool(std::move(options)));
}

RedisConnectionPool::RedisConnectionPool(RedisOptions options)
    : options_(std::move(options)), sigpipe_ignored_(SigpipeIgnored()) {}

RedisConnectionPool::~RedisConnectionPool() = default;

absl::StatusOr<RedisConnectionPool::ContextPtr> RedisConnectionPool::Acquire(
    absl::string_view operation) {
  absl::MutexLock lock(&mu_);
  // A busy slot frees up within one connect plus one command.
  const absl::Duration wait =
      options_.connect_timeout + options_.command_timeout;
  const bool slot_free = mu_.AwaitWithTimeout(
      absl::Condition(this, &RedisConnectionPool::SlotFree), wait);
  if (!slot_free) {
    return absl::UnavailableError(
        absl::StrCat("Redis ", operation, ": all ", options_.pool_size,
                     " connections busy for ", absl::FormatDuration(wait)));
  }
  ++in_use_;
  while (!idle_.empty()) {
    ContextPtr context = std::move(idle_.back());
    idle_.pop_back();
    if (StillOpen(context.get()) && AtPrimary(*context)) return context;
  }
  return ContextPtr();
}

bool RedisConnectionPool::SlotFree() const {
  return in_use_ < options_.pool_size;
}

void RedisConnectionPool::Release(ContextPtr context) {
  ContextPtr stale;  // closed after the lock is released
  absl::MutexLock lock(&mu_);
  --in_use_;
  if (context == nullptr) return;
  if (AtPrimary(*context)) {
    idle_.push_back(std::move(context));
  } else {
    stale = std::move(context);  // the sentinels named another primary meanwhile
  }
}

absl::StatusOr<RedisConnectionPool::ContextPtr> RedisConnectionPool::Open(
    const RedisEndpoint& endpoint, absl::string_view operation) const {
  internal::ConnectionSettings settings;
  settings.connect_timeout = options_.connect_timeout;
  settings.command_timeout = options_.command_timeout;
  settings.sigpipe_ignored = sigpipe_ignored_;
  if (options_.tls != nullptr) {
    settings.tls = options_.tls();
    if (settings.tls == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("Redis ", operation, ": no TLS context for a connection"));
    }
    settings.tls_server_name = options_.tls_server_name;
  }
  return internal::RedisConnection::Open(endpoint, settings, operation);
}

absl::StatusOr<RedisConnectionPool::ContextPtr> RedisConnectionPool::Connect(
    absl::string_view operation, bool* refused) {
  RedisEndpoint endpoint{options_.host, options_.port};
  if (!options_.sentinels.empty()) {
    ASSIGN_OR_RETURN(endpoint, FindPrimary(operation));
  }
  ASSIGN_OR_RETURN(ContextPtr context, Open(endpoint, operation));
  if (!options_.username.empty()) {
    RETURN_IF_ERROR(SetUp(context.get(), operation,
                          absl::StrCat("AUTH as user ", options_.username),
                          {"AUTH", options_.username, options_.password},
                          refused, options_.password));
  } else if (!options_.password.empty()) {
    RETURN_IF_ERROR(SetUp(context.get(), operation, "AUTH",
                          {"AUTH", options_.password}, refused,
                          options_.password));
  }
  if (options_.db != 0) {
    const std::string db = absl::StrCat(options_.db);
    RETURN_IF_ERROR(SetUp(context.get(), operation, absl::StrCat("SELECT ", db),
                          {"SELECT", db}, refused));
  }
  if (!options_.sentinels.empty()) {
    RETURN_IF_ERROR(CheckPrimary(context.get(), endpoint, operation, refused));
    Adopt(endpoint);
  }
  return context;
}

absl::Status RedisConnectionPool::Admit(absl::string_view operation) {
  if (options_.failure_cooldown <= absl::ZeroDuration()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (!failing_) return absl::OkStatus();
  if (!probing_ && absl::Now() >= retry_at_) {
    probing_ = true;  // this command finds out whether Redis is back
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "Redis ", operation, ": not tried, Redis failed within the last ",
      absl::FormatDuration(options_.failure_cooldown), " (", last_failure_, ")"));
}

void RedisConnectionPool::Settle(bool transport_ok, const absl::Status& failure) {
  if (options_.failure_cooldown <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  probing_ = false;
  failing_ = !transport_ok;
  if (!transport_ok) {
    retry_at_ = absl::Now() + options_.failure_cooldown;
    last_failure_ = failure.ok() ? "no answer" : std::string(failure.message());
  }
}

absl::StatusOr<RedisReplyPtr> RedisConnectionPool::Run(
    absl::string_view operation, absl::Span<const absl::string_view> argv, Ack ack) {
  RETURN_IF_ERROR(Admit(operation));
  Recheck(operation);
  bool transport_ok = false;
  absl::StatusOr<RedisReplyPtr> reply = RunAdmitted(operation, argv, ack, &transport_ok);
  Settle(transport_ok, reply.status());
  return reply;
}

absl::Status RedisConnectionPool::WaitForReplicas(internal::RedisConnection* context,
                                                  absl::string_view operation) {
  const std::string replicas = absl::StrCat(options_.wait_replicas);
  const std::string ms =
      absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.wait_timeout)));
  absl::StatusOr<RedisReplyPtr> waited =
      Send(context, operation, {"WAIT", replicas, ms});
  int64_t acknowledged = -1;
  if (waited.ok() && (*waited)->type == REDIS_REPLY_INTEGER) {
    acknowledged = (*waited)->integer;
  }
  if (acknowledged < options_.wait_replicas && options_.on_unreplicated != nullptr) {
    options_.on_unreplicated(operation, acknowledged);
  }
  return waited.status();
}

absl::StatusOr<RedisReplyPtr> RedisConnectionPool::RunAdmitted(
    absl::string_view operation, absl::Span<const absl::string_view> argv, Ack ack,
    bool* transport_ok) {
  *transport_ok = false;
  ASSIGN_OR_RETURN(ContextPtr context, Acquire(operation));
  for (int attempt = 0;; ++attempt) {
    if (context == nullptr) {
      bool refused = false;
      absl::StatusOr<ContextPtr> opened = Connect(operation, &refused);
      if (!opened.ok()) {
        // AUTH or SELECT refused: Redis answered (a deployment fault, not an
        // outage the breaker should hide).
        *transport_ok = refused;
        Release(nullptr);
        return opened.status();
      }
      context = std::move(opened).value();
    }
    absl::StatusOr<RedisReplyPtr> reply =
        Send(context.get(), operation, argv);
    *transport_ok = reply.ok();
    if (!reply.ok()) {
      // After a transport error or timeout the context is out of sync.
      // The idle ones went the same way: after a network partition each
      // would have to time out in turn, one per breaker probe (with 32 of
      // them, ~50 s of 503s after the network was back), so they go too.
      Release(nullptr);
      DropIdle();
      return reply;
    }
    if (AccessRefused(**reply)) {
      // A fresh connection authenticates again (e.g. after a password was
      // configured or rotated on the server).
      Release(nullptr);
      return absl::UnavailableError(
          absl::StrCat("Redis ", operation, ": ",
                       absl::string_view((*reply)->str, (*reply)->len)));
    }
    if (NotNow(**reply)) {
      Release(std::move(context));
      return absl::UnavailableError(
          absl::StrCat("Redis ", operation, ": ",
                       absl::string_view((*reply)->str, (*reply)->len)));
    }
    if (ClusterNode(**reply)) {
      Release(std::move(context));
      return absl::UnavailableError(absl::StrCat(
          "Redis ", operation, ": ", absl::string_view((*reply)->str, (*reply)->len),
          " (a Redis Cluster node: the gateway needs one primary, cluster mode disabled)"));
    }
    if (!ReachedReplica(**reply)) {
      if (ack == Ack::kReplicas && options_.wait_replicas > 0 &&
          (*reply)->type != REDIS_REPLY_ERROR) {
        absl::Status waited = WaitForReplicas(context.get(), operation);
        if (!waited.ok()) {
          // The write ran; the server that ran it went away before a
          // replica confirmed it (an unplanned failover loses exactly
          // these). The context is out of sync after a failed WAIT.
          *transport_ok = false;
          Release(nullptr);
          DropIdle();
          return UnconfirmedWriteError(absl::StrCat(
              "Redis ", operation, ": written, but the connection failed before replicas "
              "confirmed it (", waited.message(), ")"));
        }
      }
      Release(std::move(context));
      return reply;
    }
    // The server behind this connection is a replica now: the primary
    // failed over and the endpoint (a Service, a proxy, a DNS name) leads
    // to the new one, but connections opened before still reach the old
    // server. Close this one and every idle one, and send the command once
    // more on a new connection. A replica ran none of its writes (it
    // refuses the first), so sending it again applies it at most once.
    context.reset();
    DropIdle();
    if (attempt > 0) {
      Release(nullptr);
      return absl::UnavailableError(absl::StrCat(
          "Redis ", operation, ": ",
          absl::string_view((*reply)->str, (*reply)->len),
          " (the Redis endpoint leads to a replica, not the primary)"));
    }
  }
}

void RedisConnectionPool::DropIdle() {
  std::vector<ContextPtr> stale;
  {
    absl::MutexLock lock(&mu_);
    stale.swap(idle_);
  }
  // Closed here, outside the lock.
}

}  // namespace scep::redis
