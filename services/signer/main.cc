// scep-signer: wires the PKCS#11 token, the signer core and the gRPC
// service together. All logic lives in the libraries.

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>


#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "common/base/flag_config.h"
#include "common/base/port_flag.h"
#include "common/base/process.h"
#include "common/base/secret.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto/providers.h"
#include "common/metrics/json_log.h"
#include "common/metrics/lifecycle.h"
#include "common/metrics/metrics_server.h"
#include "common/metrics/readiness.h"
#include "common/metrics/startup_log.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/token.h"
#include "common/rpc/message_limits.h"
#include "prometheus/registry.h"
#include "services/signer/caller_rate_limit.h"
#include "services/signer/issuance_audit.h"
#include "services/signer/signer_flags.h"
#include "services/signer/issuance_policy_file.h"
#include "services/signer/issuing_ca_config.h"
#include "services/signer/issuing_cas.h"
#include "services/signer/signer_metrics.h"
#include "services/signer/signer_service.h"

namespace {

using scep::metrics::LogLevel;
using scep::metrics::LogRecord;

int Fail(scep::metrics::JsonLogger& log, const absl::Status& status) {
  log.Log(LogRecord(LogLevel::kError, "start_failed")
              .Str("code", absl::StatusCodeToString(status.code()))
              .Str("error", status.message()));
  return 1;
}

// TLS (mutual when --tls_client_ca is set) from files that are watched and
// reloaded on change; plaintext only with --insecure_plaintext.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  const bool tls = !cert.empty() || !key.empty() || !client_ca.empty();
  if (absl::GetFlag(FLAGS_insecure_plaintext)) {
    if (tls) {
      return absl::FailedPreconditionError(
          "--insecure_plaintext excludes --tls_cert, --tls_key, --tls_client_ca");
    }
    return grpc::InsecureServerCredentials();
  }
  if (cert.empty() || key.empty()) {
    return absl::FailedPreconditionError(
        "gRPC needs --tls_cert and --tls_key (and --tls_client_ca for mutual "
        "TLS), or --insecure_plaintext for local use");
  }
  for (const std::string& path : {cert, key, client_ca}) {
    if (!path.empty() && !std::ifstream(path)) {
      return absl::FailedPreconditionError("cannot read TLS file " + path);
    }
  }
  const auto refresh = static_cast<unsigned int>(
      std::max(1, absl::GetFlag(FLAGS_tls_refresh_seconds)));
  auto provider =
      client_ca.empty()
          ? std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                key, cert, refresh)
          : std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
                key, cert, client_ca, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::string> ReadPin() {
  return scep::base::ReadPin("HSM PIN", absl::GetFlag(FLAGS_pin_file), "SCEP_HSM_PIN");
}

// The RA token's PIN: its own file or variable, else the CA token's.
absl::StatusOr<std::string> ReadRaPin(const std::string& ca_token_pin) {
  if (absl::GetFlag(FLAGS_ra_pin_file).empty() && std::getenv("SCEP_RA_HSM_PIN") == nullptr) {
    return ca_token_pin;
  }
  return scep::base::ReadPin("RA token PIN", absl::GetFlag(FLAGS_ra_pin_file),
                                "SCEP_RA_HSM_PIN");
}

// Opens the token, waiting up to `wait` for one that cannot be reached
// yet (a network HSM down or restarting, a token being restored): the
// process stays up (/healthz 200, /readyz 503 "starting") and tries again
// every 1 s, doubling to 30 s, instead of exiting into a restart back-off
// that outlasts the HSM's return. Never retried: a wrong or locked PIN
// (PermissionDenied: retrying could lock the token) and a bad flag
// (InvalidArgument). Cancelled when SIGTERM or SIGINT arrives meanwhile.
absl::StatusOr<std::unique_ptr<scep::pkcs11::Token>> OpenTokenWaiting(
    const scep::pkcs11::TokenConfig& config, const sigset_t& signals,
    scep::metrics::JsonLogger& log, absl::Duration wait) {
  const absl::Time give_up = absl::Now() + wait;
  absl::Duration backoff = absl::Seconds(1);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<scep::pkcs11::Token>> token =
        scep::pkcs11::Token::Open(config);
    if (token.ok() || absl::IsPermissionDenied(token.status()) ||
        absl::IsInvalidArgument(token.status()) || absl::Now() + backoff > give_up) {
      return token;
    }
    log.Log(LogRecord(LogLevel::kWarning, "token_unavailable")
                .Str("token", config.token_label)
                .Str("error", token.status().message())
                .Int("attempt", attempt)
                .Num("retry_in_seconds", absl::ToDoubleSeconds(backoff)));
    const timespec timeout = absl::ToTimespec(backoff);
    int sig = 0;
    do {
      sig = sigtimedwait(&signals, nullptr, &timeout);
    } while (sig == SIGHUP);
    if (sig == SIGTERM || sig == SIGINT) {
      return absl::CancelledError("stopped while waiting for the token");
    }
    backoff = std::min(backoff * 2, absl::Seconds(30));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread or gRPC object exists (common/base/process.h).
  scep::base::DisableMutexDeadlockDetection();
  // Before any secret is read: a core would carry them (common/base/process.h).
  if (absl::Status no_core = scep::base::DisableCoreDumps(); !no_core.ok()) {
    std::cerr << "scep-signer: cannot disable core dumps: " << no_core.message() << "\n";
    return 1;
  }
  absl::SetProgramUsageMessage("SCEP signing service (keys in a PKCS#11 token)");
  const scep::base::FlagSources flag_sources = scep::base::ParseFlagsWithConfig(
      argc, argv, {"scep-signer", "SCEP_SIGNER_", scep::signer::kFlagsFile, nullptr});
  LogLevel level = LogLevel::kInfo;
  if (!scep::metrics::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::cerr << "scep-signer: --log_level must be debug, info, warning or error\n";
    return 1;
  }
  scep::metrics::JsonLogger log(&std::cerr, level);
  // The RA must decrypt single-DES envelopes of legacy clients; whether
  // they are accepted at all is the gateway's policy.
  scep::crypto::LegacyProviders providers;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A log or audit line to a stderr whose reader went away (a logging
  // sidecar, `| tee`) is an error the audit trail handles, not a kill.
  signal(SIGPIPE, SIG_IGN);
  {
    LogRecord start(LogLevel::kInfo, "start");
    start.Str("service", "scep-signer")
        .Str("malloc", scep::base::MallocName())
        .Str("pin_source", absl::GetFlag(FLAGS_pin_file).empty() ? "env" : "file");
    scep::metrics::AddEffectiveFlags(scep::signer::kFlagsFile, start, &flag_sources);
    log.Log(start);
  }
  // Before anything narrows them: 65536 would listen on a random port,
  // and the resolver takes --listen's port modulo 65536.
  const absl::StatusOr<uint16_t> metrics_port =
      scep::base::PortFromFlag("--metrics_port", absl::GetFlag(FLAGS_metrics_port));
  if (!metrics_port.ok()) return Fail(log, metrics_port.status());
  if (absl::Status listen = scep::base::CheckHostPortFlag("--listen", absl::GetFlag(FLAGS_listen));
      !listen.ok()) {
    return Fail(log, listen);
  }

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials();
  if (!credentials.ok()) return Fail(log, credentials.status());
  if (absl::GetFlag(FLAGS_insecure_plaintext)) {
    log.Log(LogRecord(LogLevel::kWarning, "insecure_plaintext")
                .Str("note", "gRPC without TLS; local use only"));
  } else if (absl::GetFlag(FLAGS_tls_client_ca).empty()) {
    log.Log(LogRecord(LogLevel::kWarning, "no_client_authentication")
                .Str("note", "TLS without --tls_client_ca: any client may call"));
  }

  // Up before the token: /healthz answers (a liveness probe does not
  // restart a signer waiting for its HSM) and /readyz says not ready until
  // the checks added below have run.
  prometheus::Registry registry;
  scep::metrics::Readiness readiness;
  scep::metrics::MetricsServerOptions metrics_options;
  metrics_options.address = absl::GetFlag(FLAGS_metrics_address);
  metrics_options.port = *metrics_port;
  auto metrics_server =
      scep::metrics::MetricsServer::New(metrics_options, &registry, &readiness);
  if (!metrics_server.ok()) return Fail(log, metrics_server.status());
  (*metrics_server)->Start();
  if (absl::GetFlag(FLAGS_token_wait_seconds) < 0) {
    return Fail(log, absl::InvalidArgumentError("--token_wait_seconds must be >= 0"));
  }
  const absl::Duration token_wait = absl::Seconds(absl::GetFlag(FLAGS_token_wait_seconds));

  absl::StatusOr<std::string> pin = ReadPin();
  if (!pin.ok()) return Fail(log, pin.status());
  scep::pkcs11::TokenConfig token_config;
  token_config.module_path = absl::GetFlag(FLAGS_pkcs11_module);
  token_config.token_label = absl::GetFlag(FLAGS_token_label);
  // RA key placement (DESIGN.md): the CA's token, another token of the same
  // module (served by the same Token: libp11 finalises a module whenever a
  // context unloads it), another module's token, or a file.
  const std::string ra_module = absl::GetFlag(FLAGS_ra_pkcs11_module).empty()
                                    ? token_config.module_path
                                    : absl::GetFlag(FLAGS_ra_pkcs11_module);
  // Compared as files: two paths to one library are one module.
  const bool ra_other_module =
      !scep::pkcs11::SameModuleFile(ra_module, token_config.module_path);
  std::string ra_token_label = absl::GetFlag(FLAGS_ra_token_label);
  if (ra_token_label.empty()) ra_token_label = token_config.token_label;
  if (!absl::GetFlag(FLAGS_ra_key_file).empty() &&
      (ra_token_label != token_config.token_label || ra_other_module)) {
    return Fail(log, absl::InvalidArgumentError(
                         "--ra_key_file excludes --ra_token_label and --ra_pkcs11_module"));
  }
  std::unique_ptr<scep::pkcs11::Token> ra_module_token;  // another module only
  if (ra_token_label != token_config.token_label || ra_other_module) {
    absl::StatusOr<std::string> ra_pin = ReadRaPin(*pin);
    if (!ra_pin.ok()) return Fail(log, ra_pin.status());
    if (ra_other_module) {
      auto opened = OpenTokenWaiting({ra_module, ra_token_label, *std::move(ra_pin), {}},
                                     signals, log, token_wait);
      if (absl::IsCancelled(opened.status())) return 0;
      if (!opened.ok()) return Fail(log, opened.status());
      ra_module_token = *std::move(opened);
    } else {
      token_config.further_tokens.push_back({ra_token_label, *std::move(ra_pin)});
    }
  }
  token_config.pin = *std::move(pin);
  auto token = OpenTokenWaiting(token_config, signals, log, token_wait);
  OPENSSL_cleanse(token_config.pin.data(), token_config.pin.size());
  for (scep::pkcs11::TokenConfig::Further& further : token_config.further_tokens) {
    OPENSSL_cleanse(further.pin.data(), further.pin.size());
  }
  if (absl::IsCancelled(token.status())) return 0;
  if (!token.ok()) return Fail(log, token.status());
  scep::pkcs11::Token* const ra_token =
      ra_module_token != nullptr ? ra_module_token.get() : token->get();

  absl::StatusOr<std::vector<scep::signer::IssuingCaFiles>> ca_files =
      scep::signer::IssuingCaFilesFor(
          absl::GetFlag(FLAGS_issuing_cas), absl::GetFlag(FLAGS_issuing_cas_dir),
          {"", absl::GetFlag(FLAGS_ca_key_label), absl::GetFlag(FLAGS_ca_cert),
           absl::GetFlag(FLAGS_ra_key_label), absl::GetFlag(FLAGS_ra_cert),
           absl::GetFlag(FLAGS_ra_key_file)});
  if (!ca_files.ok()) return Fail(log, ca_files.status());
  std::vector<std::string> ca_names;
  for (const scep::signer::IssuingCaFiles& files : *ca_files) ca_names.push_back(files.name);
  std::map<std::string, scep::signer::IssuancePolicy> policies;
  if (!absl::GetFlag(FLAGS_issuance_policy).empty()) {
    absl::StatusOr<std::map<std::string, scep::signer::IssuancePolicy>> loaded =
        scep::signer::LoadIssuancePolicies(absl::GetFlag(FLAGS_issuance_policy), ca_names);
    if (!loaded.ok()) return Fail(log, loaded.status());
    policies = *std::move(loaded);
  }
  std::unique_ptr<scep::signer::IssuanceAudit> audit;
  if (absl::GetFlag(FLAGS_audit_log).empty()) {
    audit = std::make_unique<scep::signer::IssuanceAudit>(&std::cerr);
  } else {
    absl::StatusOr<std::unique_ptr<scep::signer::IssuanceAudit>> opened =
        scep::signer::IssuanceAudit::OpenFile(absl::GetFlag(FLAGS_audit_log));
    if (!opened.ok()) return Fail(log, opened.status());
    audit = *std::move(opened);
  }
  audit->set_include_certificates(absl::GetFlag(FLAGS_audit_certificates));

  scep::signer::SignerMetrics metrics(registry);
  // A refused PIN is final (Token): said once, kept in a gauge to alert on.
  for (scep::pkcs11::Token* watched : {token->get(), ra_module_token.get()}) {
    if (watched == nullptr) continue;
    metrics.TokenLoginRefused(watched->label(), false);
    watched->OnLoginRefused([&log, &metrics, label = watched->label()](
                                const absl::Status& refused) {
      metrics.TokenLoginRefused(label, true);
      log.Log(LogRecord(LogLevel::kError, "token_login_refused")
                  .Str("token", label)
                  .Str("error", refused.message())
                  .Str("note", "no further login until restarted with the right PIN"));
    });
  }
  absl::StatusOr<scep::signer::IssuingCas> cas = scep::signer::OpenIssuingCas(
      *ca_files, {token->get(), ra_token, ra_token_label},
      {absl::GetFlag(FLAGS_validity_days), absl::GetFlag(FLAGS_digest),
       absl::GetFlag(FLAGS_next_ca_cert), absl::GetFlag(FLAGS_next_ra_cert),
       std::move(policies)},
      metrics, log);
  if (!cas.ok()) return Fail(log, cas.status());

  scep::base::ThreadPool pool(absl::GetFlag(FLAGS_workers),
                              static_cast<size_t>(absl::GetFlag(FLAGS_max_queue)));
  const int max_issuance = absl::GetFlag(FLAGS_max_issuance_per_minute);
  if (max_issuance < 0) {
    return Fail(log, absl::InvalidArgumentError("--max_issuance_per_minute must be >= 0"));
  }
  std::unique_ptr<scep::signer::CallerRateLimit> rate_limit;
  if (max_issuance > 0) rate_limit = std::make_unique<scep::signer::CallerRateLimit>(max_issuance);
  // OCSP signs on workers of its own: a flood of it cannot take enrollment's.
  std::unique_ptr<scep::base::ThreadPool> ocsp_pool;
  if (absl::GetFlag(FLAGS_ocsp_workers) > 0) {
    ocsp_pool = std::make_unique<scep::base::ThreadPool>(
        absl::GetFlag(FLAGS_ocsp_workers),
        static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_ocsp_max_queue))));
  }
  scep::signer::SignerService service(std::move(cas->by_name), &pool,
                                      {&metrics, audit.get(), rate_limit.get(),
                                       absl::GetFlag(FLAGS_audit_required), ocsp_pool.get()});
  if (absl::GetFlag(FLAGS_keepalive_ms) < 1000 ||
      absl::GetFlag(FLAGS_keepalive_timeout_ms) < 1000) {
    return Fail(log, absl::InvalidArgumentError(
                         "--keepalive_ms and --keepalive_timeout_ms must be >= 1000"));
  }
  if (absl::GetFlag(FLAGS_max_connection_age_seconds) < 0 ||
      absl::GetFlag(FLAGS_max_connection_age_seconds) > 30 * 86400) {
    return Fail(log, absl::InvalidArgumentError(
                         "--max_connection_age_seconds must be 0 (never) to 2592000"));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // Connections whose gateway vanished without a FIN (its node lost power
  // or network) are found and closed, not kept until TCP gives up.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, absl::GetFlag(FLAGS_keepalive_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             absl::GetFlag(FLAGS_keepalive_timeout_ms));
  // Gateways PING every connection (--signer_keepalive_ms, >= 1 s), busy
  // or idle, to find a silent signer fast; gRPC's default would answer
  // pings more often than every 5 minutes without data with GOAWAY
  // ("too_many_pings") and drop the connection.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC's DNS resolver looks again only when a connection breaks: without
  // an end to each connection, gateways never meet a signer added (scale
  // up) or rescheduled (node drain) after they first resolved, and every
  // drain narrows them onto fewer signers. GOAWAY after the age (gRPC adds
  // jitter); calls in flight finish within the grace.
  if (const int age = absl::GetFlag(FLAGS_max_connection_age_seconds); age > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, age * 1000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 60 * 1000);
  }
  // A SignCrl request lists every revoked certificate.
  builder.SetMaxReceiveMessageSize(scep::rpc::kMaxSignerMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             scep::rpc::kMaxSignerStreamsPerConnection);
  grpc::ResourceQuota quota("scep-signer");
  quota.Resize(scep::rpc::kSignerMemoryQuotaBytes);
  builder.SetResourceQuota(quota);
  int bound_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), *credentials, &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return Fail(log, absl::UnavailableError("cannot listen on " +
                                            absl::GetFlag(FLAGS_listen)));
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  // NOT_SERVING until the first readiness run says otherwise.
  health->SetServingStatus(false);

  // Asks the token itself (not a cache) whether the session and login hold.
  scep::pkcs11::Token* const token_ptr = token->get();
  std::vector<std::string> ca_labels;
  for (const scep::signer::IssuingCaFiles& files : *ca_files) {
    ca_labels.push_back(files.ca_key_label);
  }
  readiness.AddCheck("token", [token_ptr, ca_labels] {
    for (const std::string& label : ca_labels) {
      absl::Status status = token_ptr->PrivateKeyAttributes(label).status();
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  });
  if (ra_token_label != absl::GetFlag(FLAGS_token_label) || ra_module_token != nullptr) {
    std::vector<std::string> ra_labels;
    for (const scep::signer::IssuingCaFiles& files : *ca_files) {
      if (files.ra_key_file.empty()) ra_labels.push_back(files.ra_key_label);
    }
    readiness.AddCheck("ra_token", [ra_token, ra_token_label, ra_labels] {
      for (const std::string& label : ra_labels) {
        absl::Status status = ra_token->PrivateKeyAttributes(ra_token_label, label).status();
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    });
  }
  readiness.OnChange([&log, &readiness, health](bool ready) {
    health->SetServingStatus(ready);
    log.Log(LogRecord(ready ? LogLevel::kInfo : LogLevel::kWarning,
                      ready ? "ready" : "not_ready")
                .Str("reason", readiness.Get().text));
  });
  readiness.Start(absl::Milliseconds(absl::GetFlag(FLAGS_readiness_interval_ms)));
  log.Log(LogRecord(LogLevel::kInfo, "listening")
              .Str("grpc", absl::GetFlag(FLAGS_listen))
              .Bool("tls", !absl::GetFlag(FLAGS_insecure_plaintext))
              .Bool("mutual_tls", !absl::GetFlag(FLAGS_tls_client_ca).empty())
              .Int("metrics_port", (*metrics_server)->port())
              .Str("token", absl::GetFlag(FLAGS_token_label))
              .Str("ca_sha256", cas->default_ca_sha256));

  int sig = 0;
  // SIGHUP: the audit trail's file was rotated; later lines go to a new one.
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    absl::Status reopened = audit->Reopen();
    log.Log(reopened.ok() ? LogRecord(LogLevel::kInfo, "audit_log_reopened")
                          : LogRecord(LogLevel::kError, "audit_log_reopen_failed")
                                .Str("error", reopened.message()));
  }
  const absl::Duration grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds));
  log.Log(LogRecord(LogLevel::kInfo, "draining")
              .Int("signal", sig)
              .Num("grace_seconds", absl::ToDoubleSeconds(grace)));
  readiness.SetDraining();
  // Still serving while NOT_SERVING: gateways' calls on their open
  // connections go on until the pod has left the headless Service's DNS,
  // so that the GOAWAY below makes them resolve to the other signers only.
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_drain_delay_seconds)));
  const absl::Time drain_start = absl::Now();
  grpc::Server* grpc_server = server.get();
  // Shutdown cancels RPCs still running at the deadline; the pool then
  // finishes what it holds. The extra second bounds a token call that hangs.
  if (!scep::metrics::RunWithin(
          [grpc_server, &pool, &ocsp_pool, grace] {
            grpc_server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
            pool.Shutdown();
            if (ocsp_pool != nullptr) ocsp_pool->Shutdown();
          },
          grace + absl::Seconds(1))) {
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
