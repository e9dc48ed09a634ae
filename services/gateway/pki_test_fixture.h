// Test support for the gateway's PKIOperation tests (pki_*_test.cc): a
// ScepService over an in-process signer and in-memory stores, devices that
// build signed requests, and a store that counts its calls. Unit tests only.

#ifndef SCEP_SERVICES_GATEWAY_PKI_TEST_FIXTURE_H_
#define SCEP_SERVICES_GATEWAY_PKI_TEST_FIXTURE_H_

#include <openssl/provider.h>

#include <functional>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/metrics/counter_sum.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "common/redis/rate_limiter.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/scep_service.h"

namespace scep::gateway::testing {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;

// The sum of counter `name` in `registry` over its series whose label
// `label` is `value` (all of them when `label` is empty).
inline double CounterTotal(prometheus::Registry& registry, const std::string& name,
                           const std::string& label = "", const std::string& value = "") {
  if (label.empty()) return metrics::SampleSum(registry, name);
  return metrics::SampleSum(registry, name, {{label, value}});
}

// Forwards to a store and counts GetTransaction calls (Redis round trips
// the enrollment path makes before claiming the transaction).
class CountingStore final : public redis::EnrollmentStore {
 public:
  explicit CountingStore(redis::EnrollmentStore* inner) : inner_(inner) {}
  int get_transaction_calls = 0;
  int record_nonce_calls = 0;
  int claim_calls = 0;
  int nonce_and_claim_calls = 0;
  int reopen_calls = 0;
  int park_calls = 0;
  // When not OK: what CompleteIndexedTransaction returns after the inner
  // store completed the transaction (Redis ran the write, then failed).
  absl::Status complete_result;
  // Test hook: run after every GetTransaction (set before the calls; it may
  // block, e.g. to hold concurrent requests between look-up and claim).
  std::function<void()> after_get_transaction;

  // Holds each GetTransaction until two requests have made one, so that
  // identical twins both look their transaction up before either claims.
  void HoldLookupsUntilTwins() {
    after_get_transaction = [this] {
      absl::MutexLock lock(&twins_mu_);
      ++looked_up_;
      auto both = [](int* n) { return *n >= 2; };
      twins_mu_.AwaitWithTimeout(absl::Condition(+both, &looked_up_), absl::Seconds(5));
    };
  }
  int lookups_held() {
    absl::MutexLock lock(&twins_mu_);
    return looked_up_;
  }

  absl::StatusOr<redis::NonceUse> RecordNonce(absl::string_view profile,
                                              absl::string_view nonce,
                                              absl::string_view message,
                                              absl::Duration ttl) override {
    ++record_nonce_calls;
    return inner_->RecordNonce(profile, nonce, message, ttl);
  }
  absl::StatusOr<std::optional<redis::Transaction>> RecordNonceAndClaim(
      absl::string_view profile, absl::string_view nonce, absl::string_view message,
      absl::Duration nonce_ttl, absl::string_view tid, absl::string_view fingerprint,
      absl::Duration pending_ttl) override {
    ++nonce_and_claim_calls;
    return inner_->RecordNonceAndClaim(profile, nonce, message, nonce_ttl, tid,
                                       fingerprint, pending_ttl);
  }
  absl::Status ForgetNonce(absl::string_view profile, absl::string_view nonce) override {
    return inner_->ForgetNonce(profile, nonce);
  }
  absl::StatusOr<redis::Transaction> ClaimTransaction(absl::string_view profile,
                                                      absl::string_view tid,
                                                      absl::string_view fingerprint,
                                                      absl::Duration ttl) override {
    ++claim_calls;
    return inner_->ClaimTransaction(profile, tid, fingerprint, ttl);
  }
  absl::Status CompleteTransaction(absl::string_view profile, absl::string_view tid,
                                   absl::string_view fingerprint,
                                   absl::string_view certificate,
                                   absl::Duration ttl) override {
    return inner_->CompleteTransaction(profile, tid, fingerprint, certificate, ttl);
  }
  absl::Status CompleteIndexedTransaction(absl::string_view profile, absl::string_view tid,
                                          absl::string_view fingerprint,
                                          absl::string_view certificate,
                                          absl::string_view serial_hex,
                                          absl::Duration ttl,
                                          redis::NoticeToQueue notice = {}) override {
    absl::Status done = inner_->CompleteIndexedTransaction(profile, tid, fingerprint,
                                                           certificate, serial_hex, ttl, notice);
    return done.ok() && !complete_result.ok() ? complete_result : done;
  }
  absl::Status ReleaseTransaction(absl::string_view profile, absl::string_view tid,
                                  absl::string_view fingerprint) override {
    return inner_->ReleaseTransaction(profile, tid, fingerprint);
  }
  absl::StatusOr<bool> ReopenIssuedTransaction(absl::string_view profile,
                                               absl::string_view tid,
                                               absl::string_view fingerprint,
                                               absl::string_view certificate,
                                               absl::Duration ttl) override {
    ++reopen_calls;
    return inner_->ReopenIssuedTransaction(profile, tid, fingerprint, certificate, ttl);
  }
  absl::Status RejectTransaction(absl::string_view profile, absl::string_view tid,
                                 absl::Duration ttl) override {
    return inner_->RejectTransaction(profile, tid, ttl);
  }
  absl::StatusOr<std::optional<redis::Transaction>> ParkPendingClaim(
      absl::string_view profile, absl::string_view tid, absl::string_view fingerprint,
      absl::string_view request, absl::Duration poll_ttl) override {
    ++park_calls;
    return inner_->ParkPendingClaim(profile, tid, fingerprint, request, poll_ttl);
  }
  absl::StatusOr<std::optional<redis::ParkedClaim>> TakeOverParkedClaim(
      absl::string_view profile, absl::string_view tid, absl::string_view fingerprint,
      absl::Duration lease) override {
    return inner_->TakeOverParkedClaim(profile, tid, fingerprint, lease);
  }
  absl::StatusOr<std::optional<redis::Transaction>> GetTransaction(
      absl::string_view profile, absl::string_view tid) override {
    {
      absl::MutexLock lock(&mu_);
      ++get_transaction_calls;
    }
    absl::StatusOr<std::optional<redis::Transaction>> known =
        inner_->GetTransaction(profile, tid);
    if (after_get_transaction) after_get_transaction();
    return known;
  }
  absl::Status Ping() override { return inner_->Ping(); }
  bool QueuesNotices() const override { return inner_->QueuesNotices(); }

 private:
  redis::EnrollmentStore* const inner_;
  absl::Mutex mu_;  // get_transaction_calls, for requests on several threads
  absl::Mutex twins_mu_;
  int looked_up_ ABSL_GUARDED_BY(twins_mu_) = 0;
};

struct Identity {
  crypto::EvpPkeyPtr key;
  crypto::X509Ptr cert;  // the certificate the device signs with
};

class PkiMessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = redis::MemoryEnrollmentStore::New();
    options_.profile.challenge = "pw";
    Rebuild();
    ca_ = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
    ra_ = crypto::LoadCertificateFile(testing::Testdata("ra.pem")).value();
  }

  void Rebuild() {
    ASSERT_TRUE(certs_.Refresh(*signer_).ok());
    service_ = std::make_unique<ScepService>(options_, signer_.get(), store_.get(),
                                             &index_, &certs_);
  }

  HttpResponse Post(const std::string& der, const std::string& forwarded_for = "") {
    HttpRequest r;
    r.method = "POST";
    r.path = "/scep";
    r.raw_query = "operation=PKIOperation";
    r.body = der;
    r.remote_address = "192.0.2.7:5555";
    r.forwarded_for = forwarded_for;
    return service_->Handle(r);
  }

  // A new message (its envelope freshly encrypted) with a new senderNonce,
  // or with `nonce` when given.
  std::string Message(const Identity& id, MessageType type, const std::string& tid,
                      const std::string& content, const std::string& nonce = "") {
    codec::PkcsReqSpec spec;
    spec.message_type = type;
    spec.transaction_id = tid;
    spec.sender_nonce =
        !nonce.empty() ? nonce
                       : absl::StrCat(tid, "-", ++nonce_counter_, "-nonce-pad").substr(0, 16);
    return codec::BuildPkcsReq(content, id.cert.get(), id.key.get(), ra_.get(), spec)
        .value();
  }

  std::string Csr(EVP_PKEY* key, const std::string& cn, const std::string& challenge) {
    codec::CsrSpec spec;
    spec.common_name = cn;
    spec.challenge = challenge;
    return codec::BuildCsr(key, spec).value();
  }

  // A new device: RSA-2048 key and its self-signed certificate.
  static Identity NewDevice(const std::string& cn) {
    Identity id;
    id.key.reset(EVP_RSA_gen(2048));
    id.cert = codec::SelfSignedCertificate(id.key.get(), cn).value();
    return id;
  }
  // A device with an EC P-256 key.
  static Identity NewEcDevice(const std::string& cn) {
    Identity id;
    id.key.reset(EVP_EC_gen("P-256"));
    id.cert = codec::SelfSignedCertificate(id.key.get(), cn).value();
    return id;
  }

  // Enrolls `cn` with a PKCSReq; the identity then holds the issued cert.
  Identity Enroll(const std::string& cn, const std::string& tid) {
    Identity id = NewDevice(cn);
    auto rep = Open(Post(Message(id, MessageType::kPkcsReq, tid,
                                 Csr(id.key.get(), cn, "pw"))), id);
    EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
    if (!rep.certificates.empty()) id.cert = std::move(rep.certificates[0]);
    return id;
  }

  codec::OpenedCertRep Open(const HttpResponse& r, const Identity& id) {
    EXPECT_EQ(r.status, 200) << r.body;
    auto opened = codec::OpenCertRep(r.body, id.cert.get(), id.key.get());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : codec::OpenedCertRep{};
  }

  codec::ScepAttributes Attributes(const HttpResponse& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    return codec::ParsePkiMessage(r.body).value().attributes;
  }

  std::unique_ptr<testing::InProcessSigner> signer_ =
      std::make_unique<testing::InProcessSigner>();
  std::unique_ptr<redis::MemoryEnrollmentStore> store_;
  redis::MemoryCertificateIndex index_;
  CaCertificates certs_;
  ScepServiceOptions options_;
  std::unique_ptr<ScepService> service_;
  crypto::X509Ptr ca_, ra_;
  int nonce_counter_ = 0;
};

}  // namespace scep::gateway::testing

#endif  // SCEP_SERVICES_GATEWAY_PKI_TEST_FIXTURE_H_
