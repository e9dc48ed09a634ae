// scep-gateway: wires the HTTP server, the SCEP service, the signer client
// and the Redis store together. All logic lives in the libraries.

#include <openssl/provider.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "common/redis/redis_enrollment_store.h"
#include "services/gateway/scep_service.h"

ABSL_FLAG(std::string, http_address, "127.0.0.1", "device-facing listen address");
ABSL_FLAG(int, http_port, 8080, "device-facing port");
ABSL_FLAG(std::string, signer, "dns:///127.0.0.1:9090",
          "gRPC target of the signer (dns:/// spreads over all addresses)");
ABSL_FLAG(int, signer_deadline_ms, 5000, "deadline of each signer call");
ABSL_FLAG(std::string, redis_host, "127.0.0.1", "Redis host");
ABSL_FLAG(int, redis_port, 6379, "Redis port");
ABSL_FLAG(std::string, profile, "default", "profile name, served at /scep/{name}");
ABSL_FLAG(std::string, challenge_file, "",
          "file holding the static challenge; otherwise env SCEP_CHALLENGE");
ABSL_FLAG(bool, allow_legacy, false,
          "accept DES, 3DES and SHA-1 (legacy clients such as micromdm scepclient)");
ABSL_FLAG(int, validity_days, 365, "certificate validity");
ABSL_FLAG(std::string, cert_digest, "sha256", "certificate signature hash");
ABSL_FLAG(int, max_body_bytes, 64 * 1024, "largest accepted request body");
ABSL_FLAG(int, io_threads, 1, "HTTP I/O threads");
ABSL_FLAG(int, workers, 32, "threads handling SCEP requests");
ABSL_FLAG(int, retry_after_seconds, 5, "Retry-After of 503 answers");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "scep-gateway: " << status << std::endl;
  return 1;
}

absl::StatusOr<std::string> ReadChallenge() {
  const std::string path = absl::GetFlag(FLAGS_challenge_file);
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::FailedPreconditionError("cannot read --challenge_file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
  }
  const char* env = std::getenv("SCEP_CHALLENGE");
  if (env == nullptr || *env == '\0') {
    return absl::FailedPreconditionError(
        "no challenge: set --challenge_file or SCEP_CHALLENGE");
  }
  std::string challenge(env);
  unsetenv("SCEP_CHALLENGE");
  return challenge;
}

// Loads the CA/RA certificates from the signer, retrying until it answers
// (the gateway may start first), then refreshing every few minutes.
class CertificateLoader {
 public:
  CertificateLoader(scep::gateway::CaCertificates* certs,
                    scep::gateway::SignerClient* signer)
      : thread_([this, certs, signer] { Run(certs, signer); }) {}
  ~CertificateLoader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run(scep::gateway::CaCertificates* certs,
           scep::gateway::SignerClient* signer) {
    bool loaded = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      absl::Status s = certs->Refresh(*signer);
      lock.lock();
      if (s.ok() && !loaded) {
        std::cerr << "scep-gateway: CA certificates loaded, CA SHA-256 "
                  << (*certs->Get())->ca_fingerprint << std::endl;
      }
      loaded = loaded || s.ok();
      cv_.wait_for(lock, loaded ? std::chrono::seconds(300)
                                : std::chrono::seconds(1),
                   [this] { return stop_; });
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("SCEP gateway (RFC 8894) in front of scep-signer");
  absl::ParseCommandLine(argc, argv);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  scep::gateway::ScepServiceOptions options;
  options.profile.name = absl::GetFlag(FLAGS_profile);
  absl::StatusOr<std::string> challenge = ReadChallenge();
  if (!challenge.ok()) return Fail(challenge.status());
  options.profile.challenge = *std::move(challenge);
  options.profile.allow_legacy = absl::GetFlag(FLAGS_allow_legacy);
  options.profile.validity_days = absl::GetFlag(FLAGS_validity_days);
  options.profile.digest = absl::GetFlag(FLAGS_cert_digest);
  options.retry_after_seconds = absl::GetFlag(FLAGS_retry_after_seconds);
  if (options.profile.allow_legacy) {
    // Single DES replies need OpenSSL's legacy provider.
    OSSL_PROVIDER_load(nullptr, "legacy");
    OSSL_PROVIDER_load(nullptr, "default");
    std::cerr << "scep-gateway: WARNING: legacy algorithms (DES, 3DES, SHA-1) "
                 "are allowed for profile '"
              << options.profile.name << "'; do not use this in production"
              << std::endl;
  }

  scep::redis::RedisOptions redis_options;
  redis_options.host = absl::GetFlag(FLAGS_redis_host);
  redis_options.port = absl::GetFlag(FLAGS_redis_port);
  redis_options.pool_size = static_cast<size_t>(absl::GetFlag(FLAGS_workers));
  auto store = scep::redis::RedisEnrollmentStore::New(redis_options);
  if (!store.ok()) return Fail(store.status());

  scep::gateway::GrpcSignerOptions signer_options;
  signer_options.target = absl::GetFlag(FLAGS_signer);
  signer_options.deadline = absl::Milliseconds(absl::GetFlag(FLAGS_signer_deadline_ms));
  auto signer = scep::gateway::NewGrpcSignerClient(signer_options);
  scep::gateway::CaCertificates certificates;
  scep::gateway::ScepService service(options, signer.get(), store->get(),
                                     &certificates);

  scep::gateway::HttpServerOptions http;
  http.address = absl::GetFlag(FLAGS_http_address);
  http.port = static_cast<uint16_t>(absl::GetFlag(FLAGS_http_port));
  http.io_threads = absl::GetFlag(FLAGS_io_threads);
  http.worker_threads = absl::GetFlag(FLAGS_workers);
  http.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_bytes));
  auto server = scep::gateway::HttpServer::New(
      http, [&service](scep::gateway::HttpRequest request) {
        return service.Handle(request);
      });
  if (!server.ok()) return Fail(server.status());
  CertificateLoader loader(&certificates, signer.get());
  (*server)->Start();
  std::cerr << "scep-gateway: listening on http://" << http.address << ":"
            << (*server)->port() << "/scep (profile '" << options.profile.name
            << "'), signer " << signer_options.target << ", redis "
            << redis_options.host << ":" << redis_options.port << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "scep-gateway: signal " << sig << ", draining" << std::endl;
  (*server)->Shutdown();
  return 0;
}
