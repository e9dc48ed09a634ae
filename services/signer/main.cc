// scep-signer: wires the PKCS#11 token, the signer core and the gRPC
// service together. All logic lives in the libraries.

#include <grpcpp/grpcpp.h>
#include <openssl/provider.h>

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
#include "common/crypto/pem.h"
#include "common/pkcs11/token.h"
#include "services/signer/signer_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:9090", "gRPC listen address");
ABSL_FLAG(std::string, pkcs11_module, "/usr/lib/softhsm/libsofthsm2.so",
          "PKCS#11 module of the HSM");
ABSL_FLAG(std::string, token_label, "scep-dev", "token holding CA and RA keys");
ABSL_FLAG(std::string, pin_file, "",
          "file holding the user PIN; otherwise env SCEP_HSM_PIN. Never on "
          "the command line.");
ABSL_FLAG(std::string, ca_cert, "var/pki/ca.pem", "CA certificate (PEM)");
ABSL_FLAG(std::string, ra_cert, "var/pki/ra.pem", "RA certificate (PEM)");
ABSL_FLAG(std::string, ca_key_label, "scep-ca", "CKA_LABEL of the CA key");
ABSL_FLAG(std::string, ra_key_label, "scep-ra", "CKA_LABEL of the RA key");
ABSL_FLAG(int, workers, 4, "threads doing private-key operations");
ABSL_FLAG(int, max_queue, 4096, "queued operations before RESOURCE_EXHAUSTED");
ABSL_FLAG(int, validity_days, 365, "default certificate validity");
ABSL_FLAG(std::string, digest, "sha256", "default certificate signature hash");

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "scep-signer: " << status << std::endl;
  return 1;
}

absl::StatusOr<std::string> ReadPin() {
  const std::string path = absl::GetFlag(FLAGS_pin_file);
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::FailedPreconditionError("cannot read --pin_file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
  }
  const char* env = std::getenv("SCEP_HSM_PIN");
  if (env == nullptr || *env == '\0') {
    return absl::FailedPreconditionError(
        "no HSM PIN: set --pin_file or SCEP_HSM_PIN");
  }
  std::string pin(env);
  unsetenv("SCEP_HSM_PIN");  // keep it out of any child's environment
  return pin;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("SCEP signing service (keys in a PKCS#11 token)");
  absl::ParseCommandLine(argc, argv);
  // The RA must decrypt single-DES envelopes of legacy clients; whether
  // they are accepted at all is the gateway's policy.
  OSSL_PROVIDER_load(nullptr, "legacy");
  OSSL_PROVIDER_load(nullptr, "default");

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::string> pin = ReadPin();
  if (!pin.ok()) return Fail(pin.status());
  scep::pkcs11::TokenConfig token_config;
  token_config.module_path = absl::GetFlag(FLAGS_pkcs11_module);
  token_config.token_label = absl::GetFlag(FLAGS_token_label);
  token_config.pin = *std::move(pin);
  auto token = scep::pkcs11::Token::Open(std::move(token_config));
  if (!token.ok()) return Fail(token.status());

  auto ca_cert = scep::crypto::LoadCertificateFile(absl::GetFlag(FLAGS_ca_cert));
  if (!ca_cert.ok()) return Fail(ca_cert.status());
  auto ra_cert = scep::crypto::LoadCertificateFile(absl::GetFlag(FLAGS_ra_cert));
  if (!ra_cert.ok()) return Fail(ra_cert.status());
  const std::string fingerprint = scep::crypto::Sha256Fingerprint(ca_cert->get());

  scep::signer::SignerOptions options;
  options.default_validity_days = absl::GetFlag(FLAGS_validity_days);
  options.default_digest = absl::GetFlag(FLAGS_digest);
  auto core = scep::signer::SignerCore::New(
      std::move(options),
      scep::signer::NewTokenKey(token->get(), absl::GetFlag(FLAGS_ca_key_label)),
      *std::move(ca_cert),
      scep::signer::NewTokenKey(token->get(), absl::GetFlag(FLAGS_ra_key_label)),
      *std::move(ra_cert));
  if (!core.ok()) return Fail(core.status());

  scep::base::ThreadPool pool(absl::GetFlag(FLAGS_workers),
                              static_cast<size_t>(absl::GetFlag(FLAGS_max_queue)));
  scep::signer::SignerService service(core->get(), &pool);
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return Fail(absl::UnavailableError("cannot listen on " +
                                       absl::GetFlag(FLAGS_listen)));
  }
  std::cerr << "scep-signer: listening on " << absl::GetFlag(FLAGS_listen)
            << ", token '" << absl::GetFlag(FLAGS_token_label)
            << "', CA SHA-256 " << fingerprint << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "scep-signer: signal " << sig << ", draining" << std::endl;
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pool.Shutdown();
  return 0;
}
