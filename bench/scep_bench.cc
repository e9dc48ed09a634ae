// scep-bench: SCEP (RFC 8894) load generator.
//
//   scep-bench --url http://127.0.0.1:8080/scep --challenge C --n 2000
//       --concurrency 16 [--keys 32] [--cipher aes-128-cbc] [--digest sha256]
//       [--mix enroll|renew|caps] [--duration S] [--soak] [--json]
//       [--retry_unavailable [--confirm_retransmission] [--results_file F]]
//     Pre-builds N PKCSReqs (distinct subjects, transactionIDs, nonces; a
//     pool of K device keys) encrypted to the RA from the target's
//     GetCACert, then drives the target with C keep-alive connections and
//     verifies every reply after the clock stops.
//
//   scep-bench hsm-bound --pkcs11_module M --token_label L --pin_file F
//       [--hsm_ops sign:scep-ra] [--threads 2] [--seconds 5] [--json]
//     Private-key operations per second of a PKCS#11 token (the ceiling).
//
//   scep-bench pipeline-bound --pkcs11_module M --token_label L --pin_file F
//       --ca_cert C --ra_cert R [--ca_key_label scep-ca] [--ra_key_label
//       scep-ra] --challenge X [--server_challenge Y] [--n 1000] [--threads 2]
//       [--json]
//     Enrollments per second with every step's crypto in one process (no
//     HTTP, gRPC or Redis): the transport-free ceiling (pipeline_bound.h).
//
//   scep-bench parse [--threads 2] [--seconds 5] [--json]
//     Microseconds per CSR / certificate / public-key parse, OpenSSL 3.0's
//     way (a decoder context built per parse) against crypto/public_keys.h.

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/enrollment.h"
#include "bench/hsm_bound.h"
#include "bench/parse_bench.h"
#include "bench/pipeline_bound.h"
#include "bench/load_driver.h"
#include "bench/ocsp_load.h"
#include "bench/parallel.h"
#include "bench/report.h"
#include "bench/retry_driver.h"
#include "bench/scep_bench_flags.h"
#include "bench/soak.h"

namespace scep::bench {
namespace {

int Fail(absl::string_view what) {
  std::cerr << "scep-bench: " << what << std::endl;
  return 2;
}

// Makes subjects unique across runs against the same CA (micromdm refuses a
// second certificate for a subject that holds a valid one).
std::string RunId() {
  unsigned char run[4];
  if (RAND_bytes(run, sizeof(run)) != 1) std::abort();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<char*>(run), sizeof(run)));
}

// How requests are built, from the flags; a fresh run id each call.
BuildOptions BuildOptionsFromFlags() {
  BuildOptions build;
  build.challenge = absl::GetFlag(FLAGS_challenge);
  build.cipher = absl::GetFlag(FLAGS_cipher);
  build.digest = absl::GetFlag(FLAGS_digest);
  build.renew_with_challenge = absl::GetFlag(FLAGS_renew_with_challenge);
  build.run_id = RunId();
  return build;
}

int Threads() {
  int t = absl::GetFlag(FLAGS_threads);
  if (t > 0) return t;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// The token named by --pkcs11_module, --token_label and --pin_file.
absl::StatusOr<std::unique_ptr<pkcs11::Token>> OpenToken() {
  std::ifstream pin_in(absl::GetFlag(FLAGS_pin_file));
  std::string pin;
  std::getline(pin_in, pin);
  if (pin.empty()) {
    return absl::InvalidArgumentError("--pin_file must name a file holding the PIN");
  }
  auto token = pkcs11::Token::Open({absl::GetFlag(FLAGS_pkcs11_module),
                                    absl::GetFlag(FLAGS_token_label), pin, {}});
  OPENSSL_cleanse(pin.data(), pin.size());
  return token;
}

int HsmBound() {
  auto ops = ParseKeyOps(absl::GetFlag(FLAGS_hsm_ops));
  if (!ops.ok()) return Fail(ops.status().message());
  auto token = OpenToken();
  if (!token.ok()) return Fail(token.status().message());
  const int threads = Threads();
  auto result = MeasureHsmBound(**token, *ops, threads, absl::GetFlag(FLAGS_seconds));
  if (!result.ok()) return Fail(result.status().message());
  const double ops_per_s = result->OpsPerSecond(ops->size());
  std::cerr << absl::StrFormat(
      "hsm-bound: %s on %d threads: %.1f private-key ops/s, %.1f sequences/s\n",
      absl::GetFlag(FLAGS_hsm_ops), threads, ops_per_s,
      result->SequencesPerSecond());
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << absl::StrFormat(
        "{\"ops\": %s, \"threads\": %d, \"seconds\": %.3f, "
        "\"ops_per_s\": %.2f, \"sequences_per_s\": %.2f}\n",
        JsonString(absl::GetFlag(FLAGS_hsm_ops)), threads, result->seconds,
        ops_per_s, result->SequencesPerSecond());
  }
  return 0;
}

int PipelineBound() {
  auto token = OpenToken();
  if (!token.ok()) return Fail(token.status().message());
  PipelineCommand command;
  command.ca_cert = absl::GetFlag(FLAGS_ca_cert);
  command.ra_cert = absl::GetFlag(FLAGS_ra_cert);
  command.ca_key_label = absl::GetFlag(FLAGS_ca_key_label);
  command.ra_key_label = absl::GetFlag(FLAGS_ra_key_label);
  command.n = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_n)));
  command.keys = std::max(1, absl::GetFlag(FLAGS_keys));
  command.threads = Threads();
  command.build = BuildOptionsFromFlags();
  command.accepted_challenge =
      absl::GetFlag(FLAGS_server_challenge).value_or(command.build.challenge);
  command.json = absl::GetFlag(FLAGS_json);
  return RunPipelineBound(**token, command);
}

int Parse() {
  auto cases = MeasureParses(Threads(), absl::GetFlag(FLAGS_seconds));
  if (!cases.ok()) return Fail(cases.status().message());
  std::string json = "[";
  for (const ParseCase& c : *cases) {
    std::cerr << absl::StrFormat("parse: %-62s %8.1f us/call (%lld calls)\n",
                                 c.name, c.micros_per_call, c.calls);
    absl::StrAppend(&json, json.size() > 1 ? ", " : "",
                    absl::StrFormat("{\"case\": %s, \"us_per_call\": %.2f, \"calls\": %lld}",
                                    JsonString(c.name), c.micros_per_call, c.calls));
  }
  if (absl::GetFlag(FLAGS_json)) std::cout << json << "]\n";
  return 0;
}

// Drives `requests` (PKIOperation POSTs, or the caps mix when empty) and
// verifies every reply into `report`. `issued` (when not null) receives the
// certificate of each verified enrollment.
void RunPhase(const std::vector<Enrollment>& requests,
              const std::vector<DeviceKey>& keys, const ServerCerts& server,
              const HttpUrl& url, bool progress, RunReport& report,
              std::vector<crypto::X509Ptr>* issued,
              const std::vector<std::string>& ocsp_requests = {}) {
  const bool caps = report.mix == "caps";
  const bool ocsp = report.mix == "ocsp";
  const std::string pki_target = url.path + "?operation=PKIOperation";
  auto make = [&](size_t i) -> RequestSpec {
    if (ocsp) return {"POST", "/ocsp", ocsp_requests[i]};
    if (!caps) return {"POST", pki_target, requests[i].request_der};
    return {"GET", url.path + (i % 2 ? "?operation=GetCACaps" : "?operation=GetCACert"), ""};
  };
  DriveOptions drive;
  drive.url = url;
  drive.concurrency = report.concurrency;
  drive.max_seconds = absl::GetFlag(FLAGS_duration);
  drive.progress = progress;
  const double cpu_before = ProcessCpuSeconds();
  DriveResult run = Drive(caps   ? report.requested
                          : ocsp ? ocsp_requests.size()
                                 : requests.size(),
                          make, drive);
  report.client_cpu_seconds = ProcessCpuSeconds() - cpu_before;
  report.wall_seconds = run.wall_seconds;
  report.sent = run.sent;
  report.connects = run.connects;

  // Verification runs after the clock stopped, on every core.
  const absl::Time verify_start = absl::Now();
  std::vector<std::string> kinds(run.exchanges.size()), details(run.exchanges.size());
  if (issued != nullptr) {
    issued->clear();
    issued->resize(run.exchanges.size());
  }
  ParallelFor(run.exchanges.size(), Threads(), [&](size_t i) {
    const Exchange& ex = run.exchanges[i];
    if (!ex.sent) return;
    if (!ex.transport_error.empty()) {
      kinds[i] = "io_error";
      details[i] = ex.transport_error;
    } else if (ocsp) {
      kinds[i] = VerifyOcspReply(server.ca.get(), ex.response, &details[i]);
    } else if (!caps) {
      const Enrollment& e = requests[i];
      kinds[i] = VerifyReply(e, keys[e.key_index], server, ex.response, &details[i],
                             issued != nullptr ? &(*issued)[i] : nullptr);
    } else if (ex.response.status != 200) {
      kinds[i] = absl::StrCat("http_", ex.response.status);
    } else if (i % 2 == 0 && !ParseGetCaCert(ex.response).ok()) {
      kinds[i] = "verify_getcacert";
    } else if (i % 2 == 1 &&
               ex.response.body.find("POSTPKIOperation") == std::string::npos) {
      kinds[i] = "verify_getcacaps";
      details[i] = ex.response.body.substr(0, 100);
    }
  });
  std::vector<double> latencies;
  for (size_t i = 0; i < run.exchanges.size(); ++i) {
    if (!run.exchanges[i].sent) continue;
    latencies.push_back(run.exchanges[i].latency_ms);
    if (kinds[i].empty()) {
      ++report.succeeded;
    } else {
      ++report.failures[kinds[i]];
      report.failure_sample.emplace(kinds[i], details[i].substr(0, 160));
    }
  }
  report.verify_seconds = absl::ToDoubleSeconds(absl::Now() - verify_start);
  report.latency = Summarize(latencies);
}

int Load() {
  RunReport report;
  report.url = absl::GetFlag(FLAGS_url);
  report.mix = absl::GetFlag(FLAGS_mix);
  report.cipher = absl::GetFlag(FLAGS_cipher);
  report.digest = absl::GetFlag(FLAGS_digest);
  report.requested = static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_n)));
  report.concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  report.keys = std::max(1, absl::GetFlag(FLAGS_keys));
  if (report.mix != "enroll" && report.mix != "caps" && report.mix != "renew" &&
      report.mix != "ocsp") {
    return Fail("--mix must be enroll, renew, caps or ocsp");
  }
  auto url = ParseHttpUrl(report.url);
  if (!url.ok()) return Fail(url.status().message());
  const int threads = Threads();
  const bool progress = absl::GetFlag(FLAGS_progress);

  HttpConnection setup(*url);
  auto ca_reply = setup.RoundTrip("GET", url->path + "?operation=GetCACert", "", "");
  if (!ca_reply.ok()) return Fail(absl::StrCat("GetCACert: ", ca_reply.status().message()));
  auto server = ParseGetCaCert(*ca_reply);
  if (!server.ok()) return Fail(server.status().message());

  if (absl::GetFlag(FLAGS_soak)) {
    if (report.mix != "enroll" || absl::GetFlag(FLAGS_duration) <= 0) {
      return Fail("--soak needs --mix enroll and --duration > 0");
    }
    report.mix = "soak";
    auto k = GenerateDeviceKeys(report.keys, threads);
    if (!k.ok()) return Fail(k.status().message());
    SoakOptions soak;
    soak.url = *url;
    soak.concurrency = report.concurrency;
    soak.seconds = absl::GetFlag(FLAGS_duration);
    soak.producers = std::max(1, absl::GetFlag(FLAGS_producers));
    soak.build = BuildOptionsFromFlags();
    soak.progress = progress;
    const double cpu_before = ProcessCpuSeconds();
    RunSoak(soak, *k, *server, report);
    report.client_cpu_seconds = ProcessCpuSeconds() - cpu_before;
    PrintHuman(report, std::cerr);
    if (absl::GetFlag(FLAGS_json)) PrintJson(report, std::cout);
    return report.FailureCount() == 0 && report.sent > 0 ? 0 : 1;
  }

  const absl::Time prep_start = absl::Now();
  std::vector<DeviceKey> keys;
  std::vector<Enrollment> requests;
  std::vector<std::string> ocsp_requests;
  if (report.mix == "ocsp") {
    auto built = BuildOcspRequests(server->ca.get(), report.requested,
                                   static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_ocsp_distinct))));
    if (!built.ok()) return Fail(built.status().message());
    ocsp_requests = *std::move(built);
  } else if (report.mix != "caps") {
    std::cerr << "scep-bench: generating " << report.keys << " device keys and "
              << report.requested << " requests on " << threads << " threads\n";
    auto k = GenerateDeviceKeys(report.keys, threads);
    if (!k.ok()) return Fail(k.status().message());
    keys = *std::move(k);
    const BuildOptions build = BuildOptionsFromFlags();
    auto e = BuildEnrollments(report.requested, keys, server->ra.get(), build, threads);
    if (!e.ok()) return Fail(e.status().message());
    requests = *std::move(e);
    if (report.mix == "renew") {
      // Untimed set-up: enroll every device once, then renew each with the
      // certificate it got.
      std::cerr << "scep-bench: enrolling " << requests.size()
                << " devices to renew (not measured)\n";
      RunReport setup_report = report;
      setup_report.mix = "enroll";
      std::vector<crypto::X509Ptr> issued;
      RunPhase(requests, keys, *server, *url, false, setup_report, &issued);
      report.setup_failures = setup_report.FailureCount();
      report.setup_sent = setup_report.sent;
      report.setup_wall_seconds = setup_report.wall_seconds;
      if (report.setup_failures != 0) {
        // micromdm loses some enrollments under load; renew the others.
        PrintHuman(setup_report, std::cerr);
        std::vector<Enrollment> enrolled;
        std::vector<crypto::X509Ptr> certs;
        for (size_t i = 0; i < requests.size(); ++i) {
          if (issued[i] == nullptr) continue;
          enrolled.push_back(std::move(requests[i]));
          certs.push_back(std::move(issued[i]));
        }
        requests = std::move(enrolled);
        issued = std::move(certs);
      }
      if (requests.empty()) return Fail("no set-up enrollment succeeded");
      auto r = BuildRenewals(requests, std::move(issued), keys, server->ra.get(),
                             build, threads);
      if (!r.ok()) return Fail(r.status().message());
      requests = *std::move(r);
    }
  }
  report.prepare_seconds = absl::ToDoubleSeconds(absl::Now() - prep_start);
  if (absl::GetFlag(FLAGS_retry_unavailable)) {
    if (report.mix != "enroll") return Fail("--retry_unavailable needs --mix enroll");
    RetryOptions retry;
    retry.url = *url;
    retry.concurrency = report.concurrency;
    retry.max_wait_seconds = std::max(0.0, absl::GetFlag(FLAGS_retry_max_wait));
    retry.give_up_seconds = absl::GetFlag(FLAGS_retry_give_up);
    retry.confirm = absl::GetFlag(FLAGS_confirm_retransmission);
    retry.poll_pending = absl::GetFlag(FLAGS_retry_poll_pending);
    retry.progress = progress;
    retry.build = BuildOptionsFromFlags();
    report.mix = "enroll-retry";
    std::vector<TransactionResult> results =
        RunWithRetry(requests, keys, *server, retry, report);
    if (const std::string path = absl::GetFlag(FLAGS_results_file); !path.empty()) {
      std::ofstream out(path);
      WriteResultsJsonl(results, out);
      if (!out.flush()) return Fail(absl::StrCat("cannot write ", path));
    }
    PrintHuman(report, std::cerr);
    if (absl::GetFlag(FLAGS_json)) PrintJson(report, std::cout);
    return report.FailureCount() == 0 && report.sent > 0 ? 0 : 1;
  }
  RunPhase(requests, keys, *server, *url, progress, report, nullptr, ocsp_requests);
  PrintHuman(report, std::cerr);
  if (absl::GetFlag(FLAGS_json)) PrintJson(report, std::cout);
  return report.FailureCount() == 0 && report.sent > 0 ? 0 : 1;
}

}  // namespace
}  // namespace scep::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "SCEP load generator: scep-bench [--flags] | scep-bench hsm-bound [--flags] | "
      "scep-bench pipeline-bound [--flags] | "
      "scep-bench parse [--threads T --seconds S]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // Measured with the providers the gateway and the signer have in their
  // default context (default only), before the loads below.
  if (positional.size() > 1 && std::string(positional[1]) == "parse") {
    return scep::bench::Parse();
  }
  // micromdm scepserver answers with DES unless told otherwise; the legacy
  // provider lets the device side open such replies.
  OSSL_PROVIDER_load(nullptr, "legacy");
  OSSL_PROVIDER_load(nullptr, "default");
  if (positional.size() > 1) {
    if (std::string(positional[1]) == "hsm-bound") return scep::bench::HsmBound();
    if (std::string(positional[1]) == "pipeline-bound") {
      return scep::bench::PipelineBound();
    }
    return scep::bench::Fail(absl::StrCat("unknown command ", positional[1]));
  }
  return scep::bench::Load();
}
