// scep-gateway: wires the HTTP server, the SCEP service, the signer client
// and the Redis store together. All logic lives in the libraries.

#include <openssl/provider.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "common/base/flag_config.h"
#include "common/base/port_flag.h"
#include "common/base/process.h"
#include "common/crypto/pem.h"
#include "common/crypto/providers.h"
#include "common/base/secret.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto/ca_key_id.h"
#include "common/metrics/json_log.h"
#include "common/metrics/lifecycle.h"
#include "common/metrics/metrics_server.h"
#include "common/metrics/readiness.h"
#include "common/metrics/startup_log.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_request_store.h"
#include "services/gateway/profile_config.h"
#include "common/redis/redis_enrollment_store.h"
#include "prometheus/registry.h"
#include "services/gateway/further_cas.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/scep_service.h"
#include "services/gateway/timed_certificate_index.h"
#include "services/gateway/timed_enrollment_store.h"
#include "services/gateway/timed_signer_client.h"
#include "services/admin/admin_server.h"
#include "services/gateway/profile_issuer.h"
#include "services/gateway/gateway_timings.h"
#include "services/gateway/redis_memory_monitor.h"
#include "services/gateway/redis_setup.h"
#include "services/gateway/notifier.h"
#include "services/gateway/gateway_flags.h"

namespace {

using scep::metrics::LogLevel;
using scep::metrics::LogRecord;

int Fail(scep::metrics::JsonLogger& log, const absl::Status& status) {
  log.Log(LogRecord(LogLevel::kError, "start_failed")
              .Str("code", absl::StatusCodeToString(status.code()))
              .Str("error", status.message()));
  return 1;
}

absl::StatusOr<std::string> ReadChallenge() {
  return scep::base::ReadSecret("challenge", absl::GetFlag(FLAGS_challenge_file),
                                "SCEP_CHALLENGE");
}

// Optional, unlike the challenge: no file and no SCEP_REDIS_PASSWORD means
// Redis without AUTH.
}  // namespace

int main(int argc, char** argv) {
  // Before any thread or gRPC object exists (common/base/process.h).
  scep::base::DisableMutexDeadlockDetection();
  // Before any secret is read: a core would carry them (common/base/process.h).
  if (absl::Status no_core = scep::base::DisableCoreDumps(); !no_core.ok()) {
    std::cerr << "scep-gateway: cannot disable core dumps: " << no_core.message() << "\n";
    return 1;
  }
  // Before threads start: device connections need more than 1024 files.
  const absl::StatusOr<uint64_t> open_files = scep::base::RaiseOpenFileLimit();
  // Before any gRPC object exists: see PrepareGrpcClientPolling.
  const std::string backup_poll_ms = scep::gateway::PrepareGrpcClientPolling();
  absl::SetProgramUsageMessage("SCEP gateway (RFC 8894) in front of scep-signer");
  const scep::base::FlagSources flag_sources = scep::base::ParseFlagsWithConfig(
      argc, argv, {"scep-gateway", "SCEP_GATEWAY_", scep::gateway::kFlagsFile, nullptr});
  LogLevel level = LogLevel::kInfo;
  if (!scep::metrics::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::cerr << "scep-gateway: --log_level must be debug, info, warning or error\n";
    return 1;
  }
  scep::metrics::JsonLogger log(&std::cerr, level);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // SIGHUP reopens the signer's audit log; a script sending it to every
  // scep process must not stop a gateway undrained.
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every port flag, before anything narrows one (65536 would listen on a
  // random port). The admin port's 0 turns the API off; Redis needs a
  // real one.
  const absl::StatusOr<uint16_t> http_port =
      scep::base::PortFromFlag("--http_port", absl::GetFlag(FLAGS_http_port));
  if (!http_port.ok()) return Fail(log, http_port.status());
  const absl::StatusOr<uint16_t> metrics_port =
      scep::base::PortFromFlag("--metrics_port", absl::GetFlag(FLAGS_metrics_port));
  if (!metrics_port.ok()) return Fail(log, metrics_port.status());
  const absl::StatusOr<uint16_t> admin_port =
      scep::base::PortFromFlag("--admin_port", absl::GetFlag(FLAGS_admin_port));
  if (!admin_port.ok()) return Fail(log, admin_port.status());
  if (absl::Status redis_port =
          scep::base::PortFromFlag("--redis_port", absl::GetFlag(FLAGS_redis_port), 1).status();
      !redis_port.ok()) {
    return Fail(log, redis_port);
  }

  scep::gateway::ScepServiceOptions options;
  // Profiles: the profiles file, or one profile from the flags.
  std::vector<scep::gateway::Profile> profile_list;
  if (!absl::GetFlag(FLAGS_profiles_file).empty()) {
    auto loaded = scep::gateway::LoadProfilesFile(absl::GetFlag(FLAGS_profiles_file), &log);
    if (!loaded.ok()) return Fail(log, loaded.status());
    profile_list = *std::move(loaded);
  } else {
    scep::gateway::Profile single;
    single.name = absl::GetFlag(FLAGS_profile);
    absl::StatusOr<std::string> challenge = ReadChallenge();
    if (!challenge.ok()) return Fail(log, challenge.status());
    single.challenge = *std::move(challenge);
    single.allow_legacy = absl::GetFlag(FLAGS_allow_legacy);
    single.validity_days = absl::GetFlag(FLAGS_validity_days);
    single.renewal_window = absl::Hours(24) * absl::GetFlag(FLAGS_renewal_window_days);
    single.digest = absl::GetFlag(FLAGS_cert_digest);
    profile_list.push_back(std::move(single));
  }
  auto profiles = scep::gateway::ProfileSet::New(std::move(profile_list));
  if (!profiles.ok()) return Fail(log, profiles.status());
  options.profiles = profiles->get();
  options.profile = (*profiles)->Default();
  options.pki.crl_validity = absl::Hours(absl::GetFlag(FLAGS_crl_validity_hours));
  if (absl::GetFlag(FLAGS_ocsp_validity_seconds) < 60 || absl::GetFlag(FLAGS_ocsp_reuse_seconds) < 0) {
    return Fail(log, absl::InvalidArgumentError(
                         "--ocsp_validity_seconds must be >= 60, --ocsp_reuse_seconds >= 0"));
  }
  options.ocsp_validity = absl::Seconds(absl::GetFlag(FLAGS_ocsp_validity_seconds));
  options.ocsp_reuse = absl::Seconds(absl::GetFlag(FLAGS_ocsp_reuse_seconds));
  options.ocsp_fresh_per_client_per_minute =
      std::max(0, absl::GetFlag(FLAGS_ocsp_fresh_per_client_per_minute));
  options.retry_after_seconds = absl::GetFlag(FLAGS_retry_after_seconds);
  for (absl::string_view key_id :
       absl::StrSplit(absl::GetFlag(FLAGS_crl_legacy_path_keys), ',', absl::SkipWhitespace())) {
    const std::string id = absl::AsciiStrToLower(absl::StripAsciiWhitespace(key_id));
    if (!scep::crypto::IsCaKeyId(id)) {
      return Fail(log, absl::InvalidArgumentError(absl::StrCat(
                           "--crl_legacy_path_keys: '", id,
                           "' is not a key identifier (hex subjectKeyIdentifier, e.g. from "
                           "openssl x509 -noout -ext subjectKeyIdentifier)")));
    }
    options.crl_legacy_path_keys.push_back(id);
  }
  {
    auto proxies = scep::gateway::TrustedProxies::Parse(absl::GetFlag(FLAGS_trusted_proxies));
    if (!proxies.ok()) return Fail(log, proxies.status());
    options.trusted_proxies = *std::move(proxies);
  }
  {
    LogRecord start(LogLevel::kInfo, "start");
    start.Str("service", "scep-gateway")
        .Str("malloc", scep::base::MallocName())
        .Str("grpc_backup_poll_ms", backup_poll_ms)
        .Str("challenge_source",
             absl::GetFlag(FLAGS_challenge_file).empty() ? "env" : "file");
    scep::metrics::AddEffectiveFlags(scep::gateway::kFlagsFile, start, &flag_sources);
    log.Log(start);
  }
  // Outlives everything below that may use a legacy algorithm.
  std::optional<scep::crypto::LegacyProviders> legacy_providers;
  for (const scep::gateway::Profile& p : (*profiles)->All()) {
    log.Log(LogRecord(LogLevel::kInfo, "profile")
                .Str("profile", p.name)
                .Str("template", p.template_name)
                .Str("challenge_mode",
                     p.challenge_mode == scep::gateway::Profile::ChallengeMode::kStatic
                         ? "static"
                         : p.challenge_mode == scep::gateway::Profile::ChallengeMode::kOneTime
                               ? "one-time"
                               : "external")
                .Str("approval", p.approval == scep::gateway::Profile::Approval::kManual
                                     ? "manual"
                                     : "automatic"));
    if (!p.allow_legacy) continue;
    // Single DES replies need OpenSSL's legacy provider.
    if (!legacy_providers.has_value()) legacy_providers.emplace();
    log.Log(LogRecord(LogLevel::kWarning, "legacy_algorithms_allowed")
                .Str("profile", p.name)
                .Str("note", "DES, 3DES and SHA-1 accepted; not for production"));
  }

  prometheus::Registry registry;
  scep::gateway::GatewayMetrics metrics(registry);

  scep::gateway::UnreplicatedWrites unreplicated(&metrics, &log,
                                                 absl::GetFlag(FLAGS_redis_wait_replicas));
  scep::gateway::SentinelPrimary sentinel_primary(&metrics, &log);
  absl::StatusOr<scep::redis::RedisOptions> redis_flags =
      scep::gateway::RedisOptionsFromFlags(&unreplicated, &sentinel_primary, &log);
  if (!redis_flags.ok()) return Fail(log, redis_flags.status());
  const scep::redis::RedisOptions& redis_options = *redis_flags;
  if (absl::GetFlag(FLAGS_ca_refresh_seconds) < 1) {
    return Fail(log, absl::InvalidArgumentError("--ca_refresh_seconds must be >= 1"));
  }
  const scep::gateway::GatewayTimings timings{
      absl::Milliseconds(absl::GetFlag(FLAGS_signer_deadline_ms)), redis_options.command_timeout,
      absl::Seconds(absl::GetFlag(FLAGS_pending_ttl_seconds)),
      absl::Seconds(absl::GetFlag(FLAGS_http_read_timeout_seconds)),
      absl::Seconds(absl::GetFlag(FLAGS_http_idle_timeout_seconds))};
  if (absl::Status checked = scep::gateway::CheckTimings(timings); !checked.ok()) {
    return Fail(log, checked);
  }
  options.pki.pending_ttl = timings.pending_ttl;
  options.pki.renewal_reindex = absl::GetFlag(FLAGS_renewal_reindex);
  auto store = scep::redis::RedisEnrollmentStore::New(redis_options);
  absl::StatusOr<std::unique_ptr<scep::redis::CertificateIndex>> index =
      scep::redis::RedisCertificateIndex::New(redis_options);
  if (!index.ok()) return Fail(log, index.status());
  *index = scep::gateway::NewTimedCertificateIndex(*std::move(index), &metrics);
  auto challenge_store = scep::redis::RedisChallengeStore::New(redis_options);
  if (!challenge_store.ok()) return Fail(log, challenge_store.status());
  auto request_store = scep::redis::RedisRequestStore::New(redis_options);
  if (!request_store.ok()) return Fail(log, request_store.status());
  auto verifier = scep::gateway::NewHttpChallengeVerifier();
  auto rate_limiter = scep::redis::NewRedisRateLimiter(redis_options);
  if (!rate_limiter.ok()) return Fail(log, rate_limiter.status());
  options.extras = {challenge_store->get(), request_store->get(), verifier.get(),
                    rate_limiter->get(), &metrics, &log};
  // Issuance notices: queued in Redis (the completion script queues the
  // issued ones), delivered by a notifier in every gateway.
  auto notices = scep::gateway::NoticesFromFlags(**profiles, redis_options, &metrics, &log);
  if (!notices.ok()) return Fail(log, notices.status());
  options.extras.notices = notices->outbox.get();
  options.pki.notice_queue_max = notices->queue_max;
  scep::gateway::Notifier* notifier = notices->notifier.get();
  if (!store.ok()) return Fail(log, store.status());
  auto timed_store = scep::gateway::NewTimedEnrollmentStore(store->get(), &metrics);

  scep::gateway::GrpcSignerOptions signer_options;
  signer_options.target = absl::GetFlag(FLAGS_signer);
  signer_options.deadline = absl::Milliseconds(absl::GetFlag(FLAGS_signer_deadline_ms));
  signer_options.max_attempts = absl::GetFlag(FLAGS_signer_max_attempts);
  signer_options.keepalive = absl::Milliseconds(absl::GetFlag(FLAGS_signer_keepalive_ms));
  signer_options.keepalive_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_signer_keepalive_timeout_ms));
  signer_options.tls_ca = absl::GetFlag(FLAGS_signer_tls_ca);
  signer_options.tls_cert = absl::GetFlag(FLAGS_signer_tls_cert);
  signer_options.tls_key = absl::GetFlag(FLAGS_signer_tls_key);
  signer_options.tls_server_name = absl::GetFlag(FLAGS_signer_tls_server_name);
  signer_options.tls_refresh = absl::Seconds(absl::GetFlag(FLAGS_signer_tls_refresh_seconds));
  signer_options.insecure_plaintext = absl::GetFlag(FLAGS_insecure_plaintext);
  auto signer = scep::gateway::NewGrpcSignerClient(signer_options);
  if (!signer.ok()) return Fail(log, signer.status());
  if (signer_options.insecure_plaintext) {
    log.Log(LogRecord(LogLevel::kWarning, "insecure_plaintext")
                .Str("note", "signer connection without TLS; local use only"));
  }
  auto timed_signer = scep::gateway::NewTimedSignerClient(signer->get(), &metrics);
  // Further issuing CAs named by profiles: a signer binding, an index view
  // (its CRL) and published certificates each.
  auto further = scep::gateway::OpenFurtherCas((*profiles)->All(), signer_options, redis_options,
                                               options.pki.index_grace, &metrics, log);
  if (!further.ok()) return Fail(log, further.status());
  scep::gateway::FurtherCas further_cas = *std::move(further);
  for (const auto& [name, ca] : further_cas) {
    options.issuing_cas[name] = {ca->timed_signer.get(), ca->index.get(), &ca->certificates};
  }
  // After a CA rollover each previous CA key's CRL is cached in Redis
  // under a key of its own, shared by every gateway like the current one.
  options.previous_ca_crl_index =
      [&redis_options, &metrics](const std::string& name, const std::string& key_id,
                                 scep::redis::CertificateIndex*)
      -> absl::StatusOr<std::unique_ptr<scep::redis::CertificateIndex>> {
    absl::StatusOr<std::unique_ptr<scep::redis::CertificateIndex>> view =
        scep::redis::RedisCertificateIndex::New(redis_options, name, key_id);
    if (!view.ok()) return view.status();
    return scep::gateway::NewTimedCertificateIndex(*std::move(view), &metrics);
  };
  scep::gateway::CaCertificates certificates;
  scep::gateway::ScepService service(options, timed_signer.get(), timed_store.get(),
                                     index->get(), &certificates, {&metrics, &log});

  // ---- Admin API (issue 4): own port, never the device-facing one. ----
  scep::gateway::ProfileIssuer admin_issuer(timed_signer.get(), index->get(),
                                            options.pki.index_grace);
  std::unique_ptr<scep::admin::AdminServer> admin_server;
  // Without any admin credential flag the API stays off (so existing
  // deployments keep starting); with one, it must authenticate or the
  // gateway refuses to start.
  const bool admin_configured =
      !absl::GetFlag(FLAGS_admin_token_file).empty() ||
      !absl::GetFlag(FLAGS_admin_tls_cert).empty() ||
      !absl::GetFlag(FLAGS_admin_tls_key).empty() ||
      !absl::GetFlag(FLAGS_admin_tls_client_ca).empty();
  if (!admin_configured || *admin_port == 0) {
    log.Log(LogRecord(LogLevel::kWarning, "admin_disabled")
                .Str("reason", *admin_port == 0
                                   ? "--admin_port=0"
                                   : "no --admin_token_file or --admin_tls_* flags"));
  } else {
    scep::admin::AdminServerOptions admin_listen;
    admin_listen.address = absl::GetFlag(FLAGS_admin_address);
    admin_listen.port = *admin_port;
    admin_listen.token_file = absl::GetFlag(FLAGS_admin_token_file);
    admin_listen.tls_cert = absl::GetFlag(FLAGS_admin_tls_cert);
    admin_listen.tls_key = absl::GetFlag(FLAGS_admin_tls_key);
    admin_listen.tls_client_ca = absl::GetFlag(FLAGS_admin_tls_client_ca);
    admin_listen.allowed_clients =
        absl::StrSplit(absl::GetFlag(FLAGS_admin_tls_allowed_clients), ',', absl::SkipWhitespace());
    for (std::string& name : admin_listen.allowed_clients) {
      name = std::string(absl::StripAsciiWhitespace(name));
    }
    if (!admin_listen.allowed_clients.empty() && admin_listen.tls_client_ca.empty()) {
      return Fail(log, absl::InvalidArgumentError(
                           "--admin_tls_allowed_clients needs --admin_tls_client_ca"));
    }
    // Whatever the client CA, a device's certificate from one of our CAs
    // never calls the admin API (a client CA set to the issuing CA, or to a
    // root above it, would make every enrolled device an administrator).
    admin_listen.issued_to_device = [&certificates, &further_cas](absl::string_view pem) {
      absl::StatusOr<scep::crypto::X509Ptr> peer = scep::crypto::CertificateFromDerOrPem(pem);
      if (!peer.ok()) return true;  // not one we can clear
      auto issued_by = [&](const scep::gateway::CaCertificates& cas) {
        absl::StatusOr<std::shared_ptr<const scep::gateway::CaSet>> set = cas.Get();
        return set.ok() && scep::gateway::IssuedByThisCa(**set, peer->get());
      };
      if (issued_by(certificates)) return true;
      for (const auto& [name, ca] : further_cas) {
        if (issued_by(ca->certificates)) return true;
      }
      return false;
    };
    scep::admin::AdminOptions admin_options;
    admin_options.issued_ttl = options.pki.issued_ttl;
    admin_options.crl_validity = options.pki.crl_validity;
    admin_options.enroll_claim_ttl = options.pki.pending_ttl;
    admin_options.index_grace = options.pki.index_grace;
    admin_options.notice_queue_max = notices->queue_max;
    scep::admin::AdminDeps admin_deps;
    admin_deps.requests = request_store->get();
    admin_deps.challenges = challenge_store->get();
    admin_deps.transactions = timed_store.get();
    admin_deps.index = index->get();
    admin_deps.signer = timed_signer.get();
    admin_deps.profiles = profiles->get();
    admin_deps.issuer = &admin_issuer;
    admin_deps.ca = &certificates;
    admin_deps.audit = &log;
    admin_deps.metrics = &metrics;
    admin_deps.notices = notices->outbox.get();
    for (const auto& [name, ca] : further_cas) {
      admin_deps.issuing_cas[name] = {ca->timed_signer.get(), ca->index.get(),
                                      ca->issuer.get(), &ca->certificates};
    }
    auto started = scep::admin::AdminServer::Start(admin_listen, admin_options, admin_deps);
    if (!started.ok()) return Fail(log, started.status());
    admin_server = *std::move(started);
    log.Log(LogRecord(LogLevel::kInfo, "admin_listening")
                .Str("address", admin_listen.address)
                .Int("port", admin_server->port())
                .Bool("token", !admin_listen.token_file.empty())
                .Bool("tls", admin_server->tls())
                .Bool("mutual_tls", admin_server->mutual_tls()));
    if (!admin_server->tls()) {
      log.Log(LogRecord(LogLevel::kWarning, "admin_plaintext")
                  .Str("note", "admin API without TLS: keep it on loopback or "
                               "behind a TLS-terminating proxy"));
    }
  }
  // ---- end of the admin API block ----

  scep::metrics::Readiness readiness;
  readiness.AddCheck("ca_certificates", [&certificates] {
    return certificates.Get().status();
  });
  for (const auto& [name, ca] : further_cas) {
    scep::gateway::CaCertificates* certs = &ca->certificates;
    readiness.AddCheck("ca_certificates_" + name, [certs] { return certs->Get().status(); });
  }
  // Shared by every gateway: /readyz?local (the chart's probe) keeps this
  // replica in rotation while they fail, answering 503 + Retry-After.
  readiness.AddDependencyCheck("redis", [&store] { return (*store)->Ping(); });
  readiness.AddDependencyCheck("signer", [&signer] {
    return (*signer)->GetCertificates().status();
  });
  readiness.OnChange([&log, &readiness](bool ready) {
    log.Log(LogRecord(ready ? LogLevel::kInfo : LogLevel::kWarning,
                      ready ? "ready" : "not_ready")
                .Str("reason", readiness.Get().text));
  });
  scep::metrics::MetricsServerOptions metrics_options;
  metrics_options.address = absl::GetFlag(FLAGS_metrics_address);
  metrics_options.port = *metrics_port;
  auto metrics_server =
      scep::metrics::MetricsServer::New(metrics_options, &registry, &readiness);
  if (!metrics_server.ok()) return Fail(log, metrics_server.status());

  scep::gateway::HttpServerOptions http;
  http.address = absl::GetFlag(FLAGS_http_address);
  http.port = *http_port;
  http.io_threads = absl::GetFlag(FLAGS_io_threads);
  http.worker_threads = absl::GetFlag(FLAGS_workers);
  http.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_bytes));
  // GET PKIOperation carries the message in the request line (base64,
  // percent-encoded: about 1.4 times its size), which GET-only clients
  // (Cisco IOS; Apple without POSTPKIOperation) send: room for a message as
  // large as a POST body may be.
  http.max_header_bytes = 8 * 1024 + http.max_body_bytes * 3 / 2;
  http.read_timeout = timings.http_read_timeout;
  http.idle_timeout = timings.http_idle_timeout;
  // Under overload (a stalled signer holding every worker) a request that
  // waited this long has likely been given up by its client: refuse it
  // rather than make newer ones wait longer still.
  http.max_queue_wait = absl::Milliseconds(absl::GetFlag(FLAGS_max_queue_wait_ms));
  http.queue_retry_after = absl::Seconds(absl::GetFlag(FLAGS_retry_after_seconds));
  http.is_quick = scep::gateway::NeverBlocks;
  http.quick_worker_threads = absl::GetFlag(FLAGS_quick_workers);
  if (absl::GetFlag(FLAGS_max_connections) < 1) {
    return Fail(log, absl::InvalidArgumentError("--max_connections must be >= 1"));
  }
  http.max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  if (!open_files.ok()) {
    log.Log(LogRecord(LogLevel::kWarning, "open_file_limit_unknown")
                .Str("error", open_files.status().message()));
  } else if (const size_t fit = scep::gateway::ConnectionsWithinFileLimit(
                 http.max_connections, *open_files);
             fit < http.max_connections) {
    log.Log(LogRecord(LogLevel::kWarning, "max_connections_capped")
                .Int("max_connections", static_cast<int64_t>(http.max_connections))
                .Int("open_file_limit", static_cast<int64_t>(*open_files))
                .Int("capped_to", static_cast<int64_t>(fit)));
    http.max_connections = fit;
  }
  auto server = scep::gateway::HttpServer::New(
      http, [&service](scep::gateway::HttpRequest request) {
        return service.Handle(request);
      });
  if (!server.ok()) return Fail(log, server.status());
  const absl::Duration ca_refresh = absl::Seconds(absl::GetFlag(FLAGS_ca_refresh_seconds));
  // Each loader warns about its CA's profiles that exceed the signer's
  // issuance policy.
  scep::gateway::CertificateLoader loader(&certificates, signer->get(), &log, "", ca_refresh,
                                          scep::gateway::ProfilesOf((*profiles)->All(), ""));
  for (auto& [name, ca] : further_cas) {
    ca->loader = std::make_unique<scep::gateway::CertificateLoader>(
        &ca->certificates, ca->signer.get(), &log, name, ca_refresh,
        scep::gateway::ProfilesOf((*profiles)->All(), name));
  }
  // Redis's memory limit and eviction policy, on a connection of its own.
  std::unique_ptr<scep::gateway::RedisMemoryMonitor> memory_monitor;
  if (const int every = absl::GetFlag(FLAGS_redis_memory_check_seconds); every > 0) {
    memory_monitor =
        std::make_unique<scep::gateway::RedisMemoryMonitor>(redis_options, registry, &log);
    memory_monitor->Start(absl::Seconds(every));
  }
  (*metrics_server)->Start();
  if (notifier != nullptr) notifier->Start();
  readiness.Start(absl::Milliseconds(absl::GetFlag(FLAGS_readiness_interval_ms)));
  (*server)->Start();
  log.Log(LogRecord(LogLevel::kInfo, "listening")
              .Str("scep_url", absl::StrCat("http://", http.address, ":",
                                            (*server)->port(), "/scep"))
              .Str("profile", options.profile.name)
              .Int("metrics_port", (*metrics_server)->port())
              .Str("signer", signer_options.target)
              .Str("redis", scep::gateway::RedisTarget(redis_options))
              .Bool("redis_auth", !redis_options.password.empty()));

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    log.Log(LogRecord(LogLevel::kInfo, "signal_ignored").Int("signal", sig));
  }
  const absl::Duration grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  log.Log(LogRecord(LogLevel::kInfo, "draining")
              .Int("signal", sig)
              .Num("grace_seconds", absl::ToDoubleSeconds(grace)));
  readiness.SetDraining();
  // Responses from now on close their connections: a load balancer keeps
  // sending an open connection's requests here until it closes.
  (*server)->BeginDrain();
  // Other gateways deliver what this one has not begun.
  if (notifier != nullptr) notifier->RequestStop();
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_drain_delay_seconds)));
  const absl::Time drain_start = absl::Now();
  scep::gateway::HttpServer* device_server = server->get();
  if (!scep::metrics::RunWithin(
          [device_server, notifier] {
            device_server->Shutdown();
            // The notice being delivered, up to its receiver's timeout.
            if (notifier != nullptr) notifier->Stop();
          },
          grace)) {
    // Requests still running after the grace period are cut off; the
    // store's pending claims expire and their retries start afresh.
    log.Log(LogRecord(LogLevel::kError, "shutdown_grace_exceeded")
                .Num("grace_seconds", absl::ToDoubleSeconds(grace)));
    std::_Exit(2);
  }
  readiness.Stop();
  (*metrics_server)->Shutdown();
  log.Log(LogRecord(LogLevel::kInfo, "stopped")
              .Num("drain_ms", absl::ToDoubleMilliseconds(absl::Now() - drain_start)));
  return 0;
}
