#include "bench/pipeline_bound.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/parallel.h"
#include "bench/report.h"
#include "common/crypto/pem.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/pki_message.h"
#include "prometheus/registry.h"
#include "services/signer/key_access.h"
#include "services/signer/signer_metrics.h"
#include "services/signer/timed_key_access.h"

namespace scep::bench {
namespace {

bool ChallengeMatches(const codec::Csr& csr, const std::string& expected) {
  if (!csr.challenge_password.has_value() || expected.empty()) return false;
  const std::string& presented = *csr.challenge_password;
  return presented.size() == expected.size() &&
         CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

// One request, as gateway and signer together handle it on the common path.
absl::StatusOr<std::string> Enroll(signer::SignerCore& core, const std::string& der,
                                   const std::string& challenge) {
  absl::StatusOr<codec::PkiMessage> msg = codec::ParsePkiMessage(der);
  if (!msg.ok()) return msg.status();
  if (!msg->signature_valid) {
    return absl::InvalidArgumentError("pkiMessage signature does not verify");
  }
  if (msg->attributes.message_type != codec::MessageType::kPkcsReq) {
    return absl::InvalidArgumentError("not a PKCSReq");
  }
  absl::StatusOr<std::string> cipher = codec::EnvelopeCipher(msg->content);
  if (!cipher.ok()) return cipher.status();
  absl::StatusOr<std::string> plain = core.Decrypt(msg->content);
  if (!plain.ok()) return plain.status();
  X509* device = msg->signer_certificate.get();
  // As the gateway does: the self-signature is left to the issuance, which
  // checks it before the CA key signs.
  absl::StatusOr<codec::Csr> csr =
      codec::ParseCsr(*plain, device, codec::CsrSignature::kUnlessSignedWithItsKey);
  if (!csr.ok()) return csr.status();
  if (!ChallengeMatches(*csr, challenge)) {
    return absl::PermissionDeniedError("challenge password wrong");
  }
  absl::StatusOr<crypto::X509Ptr> cert =
      core.IssueX509(*plain, signer::SignerCore::Policy{}, device);
  if (!cert.ok()) return cert.status();
  codec::ScepAttributes attributes;
  attributes.message_type = codec::MessageType::kCertRep;
  attributes.transaction_id = msg->attributes.transaction_id;
  attributes.recipient_nonce = msg->attributes.sender_nonce;
  attributes.sender_nonce.resize(16);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(attributes.sender_nonce.data()),
                 16) != 1) {
    return absl::InternalError("RAND_bytes");
  }
  attributes.pki_status = codec::PkiStatus::kSuccess;
  return core.CertRepDelivering(cert->get(), device, *cipher, std::move(attributes),
                                msg->digest);
}

int Fail(absl::string_view what) {
  std::cerr << "scep-bench: " << what << std::endl;
  return 2;
}

struct KeyCpu {
  double seconds = 0;     // scep_signer_pkcs11_cpu_seconds_total, all series
  double operations = 0;  // private-key operations (public-key reads apart)
};

KeyCpu KeyOperationCpu(const prometheus::Registry& registry) {
  KeyCpu total;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    const bool cpu = family.name == "scep_signer_pkcs11_cpu_seconds_total";
    const bool ops = family.name == "scep_signer_pkcs11_operations_total";
    if (!cpu && !ops) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      bool public_key = false;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        public_key |= l.name == "operation" && l.value == "public_key";
      }
      if (public_key) continue;
      (cpu ? total.seconds : total.operations) += m.counter.value;
    }
  }
  return total;
}

}  // namespace

PipelineResult RunPipeline(signer::SignerCore& core,
                           const std::vector<Enrollment>& requests,
                           const std::string& challenge, int threads) {
  PipelineResult result;
  result.replies.resize(requests.size());
  result.errors.resize(requests.size());
  const absl::Time start = absl::Now();
  ParallelFor(requests.size(), threads, [&](size_t i) {
    absl::StatusOr<std::string> reply = Enroll(core, requests[i].request_der, challenge);
    if (reply.ok()) {
      result.replies[i] = *std::move(reply);
    } else {
      result.errors[i] = std::string(reply.status().message());
    }
  });
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.processed = requests.size();
  return result;
}


int RunPipelineBound(pkcs11::Token& token, const PipelineCommand& command) {
  auto ca = crypto::LoadCertificateFile(command.ca_cert);
  if (!ca.ok()) return Fail(absl::StrCat("--ca_cert: ", ca.status().message()));
  auto ra = crypto::LoadCertificateFile(command.ra_cert);
  if (!ra.ok()) return Fail(absl::StrCat("--ra_cert: ", ra.status().message()));
  ServerCerts server;
  server.ca.reset(X509_dup(ca->get()));
  server.ra.reset(X509_dup(ra->get()));
  if (server.ca == nullptr || server.ra == nullptr) return Fail("X509_dup");
  // The signer's own key wrappers: CPU per key operation is counted the
  // same way (scep_signer_pkcs11_cpu_seconds_total) in both.
  prometheus::Registry registry;
  signer::SignerMetrics metrics(registry);
  auto core = signer::SignerCore::New(
      signer::SignerOptions{},
      signer::NewTimedKeyAccess(
          signer::NewTokenKey(&token, command.ca_key_label), "ca",
          &metrics),
      *std::move(ca),
      signer::NewTimedKeyAccess(
          signer::NewTokenKey(&token, command.ra_key_label), "ra",
          &metrics),
      *std::move(ra));
  if (!core.ok()) return Fail(core.status().message());
  const int threads = command.threads;
  auto keys = GenerateDeviceKeys(command.keys, threads);
  if (!keys.ok()) return Fail(keys.status().message());
  auto requests =
      BuildEnrollments(command.n, *keys, server.ra.get(), command.build, threads);
  if (!requests.ok()) return Fail(requests.status().message());

  const KeyCpu cpu_before = KeyOperationCpu(registry);
  const double process_cpu_before = ProcessCpuSeconds();
  PipelineResult run =
      RunPipeline(**core, *requests, command.accepted_challenge, threads);
  const double process_cpu = ProcessCpuSeconds() - process_cpu_before;
  const KeyCpu cpu_after = KeyOperationCpu(registry);
  const double key_ops = cpu_after.operations - cpu_before.operations;
  const double us_per_key_op =
      key_ops > 0 ? (cpu_after.seconds - cpu_before.seconds) * 1e6 / key_ops : 0;
  const double cpu_ms_per_enrollment =
      run.processed > 0 ? process_cpu * 1e3 / static_cast<double>(run.processed) : 0;
  // Every reply is checked as a device would, after the clock.
  std::vector<std::string> kinds(run.replies.size());
  ParallelFor(run.replies.size(), threads, [&](size_t i) {
    if (run.replies[i].empty()) {
      kinds[i] = "refused";
      return;
    }
    const Enrollment& e = (*requests)[i];
    HttpResponse reply{200, "application/x-pki-message", run.replies[i], -1};
    std::string detail;
    kinds[i] = VerifyReply(e, (*keys)[e.key_index], server, reply, &detail);
  });
  size_t verified = 0;
  std::map<std::string, size_t> failures;
  std::string sample;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i].empty()) {
      ++verified;
    } else {
      ++failures[kinds[i]];
      if (sample.empty()) sample = run.errors[i].empty() ? kinds[i] : run.errors[i];
    }
  }
  std::cerr << absl::StrFormat(
      "pipeline-bound: %zu enrollments on %d threads in %.2f s: %.1f enrollments/s, "
      "%zu verified; CPU %.3f ms per enrollment, %.1f us per private-key "
      "operation (%.0f operations)\n",
      run.processed, threads, run.seconds, run.PerSecond(), verified,
      cpu_ms_per_enrollment, us_per_key_op, key_ops);
  if (!sample.empty()) std::cerr << "pipeline-bound: first failure: " << sample << "\n";
  if (command.json) {
    std::string kinds_json;
    for (const auto& [kind, count] : failures) {
      absl::StrAppend(&kinds_json, kinds_json.empty() ? "" : ", ", JsonString(kind),
                      ": ", count);
    }
    std::cout << absl::StrFormat(
        "{\"n\": %zu, \"threads\": %d, \"seconds\": %.3f, "
        "\"enrollments_per_s\": %.2f, \"verified\": %zu, \"failures\": {%s}, "
        "\"cpu_ms_per_enrollment\": %.4f, \"key_operations\": %.0f, "
        "\"key_cpu_us_per_op\": %.2f}\n",
        run.processed, threads, run.seconds, run.PerSecond(), verified, kinds_json,
        cpu_ms_per_enrollment, key_ops, us_per_key_op);
  }
  return verified == run.processed ? 0 : 1;
}

}  // namespace scep::bench
