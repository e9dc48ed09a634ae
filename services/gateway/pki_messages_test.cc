// RenewalReq, CertPoll, GetCert, GetCRL and GetNextCACert through the
// gateway's SCEP service with an in-process signer and stores.

#include <openssl/provider.h>

#include "absl/strings/match.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/codec/envelope.h"
#include "common/codec/identifiers.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "common/redis/memory_certificate_index.h"
#include "common/redis/memory_enrollment_store.h"
#include "common/redis/rate_limiter.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"
#include "services/gateway/scep_service.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;

// Forwards to a store and counts GetTransaction calls (Redis round trips
// the enrollment path makes before claiming the transaction).
class CountingStore final : public redis::EnrollmentStore {
 public:
  explicit CountingStore(redis::EnrollmentStore* inner) : inner_(inner) {}
  int get_transaction_calls = 0;
  int record_nonce_calls = 0;
  int claim_calls = 0;
  int nonce_and_claim_calls = 0;

  absl::StatusOr<bool> RecordNonce(absl::string_view profile, absl::string_view nonce,
                                   absl::Duration ttl) override {
    ++record_nonce_calls;
    return inner_->RecordNonce(profile, nonce, ttl);
  }
  absl::StatusOr<std::optional<redis::Transaction>> RecordNonceAndClaim(
      absl::string_view profile, absl::string_view nonce, absl::Duration nonce_ttl,
      absl::string_view tid, absl::string_view fingerprint,
      absl::Duration pending_ttl) override {
    ++nonce_and_claim_calls;
    return inner_->RecordNonceAndClaim(profile, nonce, nonce_ttl, tid, fingerprint,
                                       pending_ttl);
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
                                          absl::Duration ttl) override {
    return inner_->CompleteIndexedTransaction(profile, tid, fingerprint, certificate,
                                              serial_hex, ttl);
  }
  absl::Status ReleaseTransaction(absl::string_view profile, absl::string_view tid,
                                  absl::string_view fingerprint) override {
    return inner_->ReleaseTransaction(profile, tid, fingerprint);
  }
  absl::Status RejectTransaction(absl::string_view profile, absl::string_view tid,
                                 absl::Duration ttl) override {
    return inner_->RejectTransaction(profile, tid, ttl);
  }
  absl::StatusOr<std::optional<redis::Transaction>> GetTransaction(
      absl::string_view profile, absl::string_view tid) override {
    ++get_transaction_calls;
    return inner_->GetTransaction(profile, tid);
  }
  absl::Status Ping() override { return inner_->Ping(); }

 private:
  redis::EnrollmentStore* const inner_;
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

  std::string Message(const Identity& id, MessageType type, const std::string& tid,
                      const std::string& content) {
    codec::PkcsReqSpec spec;
    spec.message_type = type;
    spec.transaction_id = tid;
    spec.sender_nonce = absl::StrCat(tid, "-", ++nonce_counter_, "-nonce-pad").substr(0, 16);
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

TEST_F(PkiMessagesTest, RenewalWithNewKeyIsEncryptedToTheOldCertificate) {
  Identity old_id = Enroll("renew-me", "tid-1");
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  HttpResponse r = Post(Message(old_id, MessageType::kRenewalReq, "tid-2",
                                Csr(new_key.get(), "renew-me", "")));
  codec::OpenedCertRep rep = Open(r, old_id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(rep.certificates.size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), new_key.get()), 1);
  EXPECT_EQ(X509_verify(rep.certificates[0].get(), X509_get0_pubkey(ca_.get())), 1);
  EXPECT_EQ(signer_->issued.load(), 2);
}

TEST_F(PkiMessagesTest, RenewalRefusals) {
  Identity id = Enroll("renew-refused", "tid-r1");
  // Another subject.
  auto attrs = Attributes(Post(Message(id, MessageType::kRenewalReq, "tid-r2",
                                       Csr(id.key.get(), "someone-else", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  // Signed by a certificate that is not ours.
  Identity stranger;
  stranger.key.reset(EVP_RSA_gen(2048));
  stranger.cert = codec::SelfSignedCertificate(stranger.key.get(), "renew-refused").value();
  attrs = Attributes(Post(Message(stranger, MessageType::kRenewalReq, "tid-r3",
                                  Csr(stranger.key.get(), "renew-refused", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadMessageCheck);
  // Outside the renewal window (365-day certificate, 30-day window).
  options_.profile.renewal_window = absl::Hours(24 * 30);
  Rebuild();
  attrs = Attributes(Post(Message(id, MessageType::kRenewalReq, "tid-r4",
                                  Csr(id.key.get(), "renew-refused", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(*attrs.fail_info_text, "window"));
  options_.profile.renewal_window = absl::ZeroDuration();
  Rebuild();
  // Revoked.
  const std::string serial = codec::SerialHex(X509_get0_serialNumber(id.cert.get()));
  ASSERT_TRUE(index_.Revoke(serial, 1, absl::Now()).ok());
  attrs = Attributes(Post(Message(id, MessageType::kRenewalReq, "tid-r5",
                                  Csr(id.key.get(), "renew-refused", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(*attrs.fail_info_text, "revoked"));
  EXPECT_EQ(signer_->issued.load(), 1);
}

TEST_F(PkiMessagesTest, ExpiredCertificateCannotRenew) {
  // A certificate of ours that expired yesterday, known to the index.
  Identity id;
  id.key.reset(EVP_RSA_gen(2048));
  crypto::EvpPkeyPtr ca_key =
      crypto::LoadPrivateKeyFile(testing::Testdata("ca.key")).value();
  id.cert.reset(X509_new());
  X509_set_version(id.cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(id.cert.get()), 0x4242);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(id.cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("expired"), -1, -1, 0);
  X509_set_issuer_name(id.cert.get(), X509_get_subject_name(ca_.get()));
  X509_gmtime_adj(X509_getm_notBefore(id.cert.get()), -86400 * 10);
  X509_gmtime_adj(X509_getm_notAfter(id.cert.get()), -86400);
  X509_set_pubkey(id.cert.get(), id.key.get());
  ASSERT_GT(X509_sign(id.cert.get(), ca_key.get(), EVP_sha256()), 0);
  redis::CertificateRecord record;
  record.certificate = crypto::ToDer(id.cert.get(), i2d_X509).value();
  ASSERT_TRUE(index_.Put("4242", record, absl::Hours(1)).ok());
  auto attrs = Attributes(Post(Message(id, MessageType::kRenewalReq, "tid-exp",
                                       Csr(id.key.get(), "expired", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadTime);
}

TEST_F(PkiMessagesTest, WeakDeviceKeysAreRefused) {
  Identity id;
  id.key.reset(EVP_RSA_gen(1024));
  id.cert = codec::SelfSignedCertificate(id.key.get(), "weak").value();
  auto attrs = Attributes(Post(Message(id, MessageType::kPkcsReq, "tid-weak",
                                       Csr(id.key.get(), "weak", "pw"))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(signer_->issued.load(), 0);
}

TEST_F(PkiMessagesTest, RenewalWithCertificateUnknownToIndexIsBadCertId) {
  Identity id = Enroll("unknown", "tid-u1");
  redis::MemoryCertificateIndex empty;
  ScepService other(options_, signer_.get(), store_.get(), &empty, &certs_);
  HttpRequest r;
  r.method = "POST";
  r.path = "/scep";
  r.raw_query = "operation=PKIOperation";
  r.body = Message(id, MessageType::kRenewalReq, "tid-u2", Csr(id.key.get(), "unknown", ""));
  EXPECT_EQ(Attributes(other.Handle(r)).fail_info, FailInfo::kBadCertId);
}

TEST_F(PkiMessagesTest, SharedSecretSkipsTheTransactionLookupAndRotationKeepsRetransmissions) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  Identity id = NewDevice("rotating");
  const std::string csr = Csr(id.key.get(), "rotating", "pw");
  auto first = Open(Post(Message(id, MessageType::kPkcsReq, "tid-rot", csr)), id);
  ASSERT_EQ(first.message.attributes.pki_status, PkiStatus::kSuccess);
  ASSERT_EQ(first.certificates.size(), 1u);
  // The right shared secret: no look-up before the claim, and the nonce is
  // recorded with the claim (one Redis round trip for both).
  EXPECT_EQ(counting.get_transaction_calls, 0);
  EXPECT_EQ(counting.nonce_and_claim_calls, 1);
  EXPECT_EQ(counting.record_nonce_calls, 0);
  EXPECT_EQ(counting.claim_calls, 0);
  // A retransmission (fresh nonce) with the same secret: the same
  // certificate, still without a look-up.
  auto again = Open(Post(Message(id, MessageType::kPkcsReq, "tid-rot", csr)), id);
  ASSERT_EQ(again.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(again.certificates[0].get(), first.certificates[0].get()), 0);
  EXPECT_EQ(counting.get_transaction_calls, 0);
  // The administrator rotates the secret: a new request with the old one is
  // refused (after one look-up)...
  options_.profile.challenge = "rotated";
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  Identity other = NewDevice("late");
  auto refused = Attributes(Post(Message(other, MessageType::kPkcsReq, "tid-late",
                                         Csr(other.key.get(), "late", "pw"))));
  EXPECT_EQ(refused.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(refused.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(counting.get_transaction_calls, 1);
  // ...but a retransmission of the request accepted before the rotation
  // still gets its certificate from the transaction.
  auto after = Open(Post(Message(id, MessageType::kPkcsReq, "tid-rot", csr)), id);
  ASSERT_EQ(after.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(after.certificates[0].get(), first.certificates[0].get()), 0);
  EXPECT_EQ(counting.get_transaction_calls, 2);
}

// A PKCSReq's nonce is recorded after decryption: refused requests record it
// too, so any message sent twice meets "replay" the second time.
TEST_F(PkiMessagesTest, EveryPkcsReqNonceIsSingleUse) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  Identity id = NewDevice("twice");
  const std::string accepted =
      Message(id, MessageType::kPkcsReq, "tid-twice", Csr(id.key.get(), "twice", "pw"));
  ASSERT_EQ(Open(Post(accepted), id).message.attributes.pki_status, PkiStatus::kSuccess);
  codec::ScepAttributes replay = Attributes(Post(accepted));
  EXPECT_EQ(replay.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(replay.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(replay.fail_info_text, kReplayText);
  const std::string wrong =
      Message(id, MessageType::kPkcsReq, "tid-wrong", Csr(id.key.get(), "twice", "nope"));
  codec::ScepAttributes refused = Attributes(Post(wrong));
  EXPECT_EQ(refused.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(refused.fail_info_text, "challenge password wrong");
  EXPECT_EQ(Attributes(Post(wrong)).fail_info_text, kReplayText);
  const std::string garbage = Message(id, MessageType::kPkcsReq, "tid-garbage", "not a CSR");
  EXPECT_EQ(Attributes(Post(garbage)).fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(Attributes(Post(garbage)).fail_info_text, kReplayText);
  // Only the accepted request and its replay took the one-step path.
  EXPECT_EQ(counting.nonce_and_claim_calls, 2);
  EXPECT_EQ(counting.record_nonce_calls, 4);
}

TEST_F(PkiMessagesTest, CertPollAnswersByTransaction) {
  Identity id = Enroll("poller", "tid-p1");
  std::string ias = codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                                  X509_get_subject_name(id.cert.get()))
                        .value();
  codec::OpenedCertRep rep = Open(Post(Message(id, MessageType::kCertPoll, "tid-p1", ias)), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(rep.certificates[0].get(), id.cert.get()), 0);
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kCertPoll, "tid-none", ias))).fail_info,
            FailInfo::kBadCertId);
  // A transaction still being processed is PENDING.
  ASSERT_TRUE(store_->ClaimTransaction("default", "tid-busy", "fp", absl::Minutes(1)).ok());
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kCertPoll, "tid-busy", ias))).pki_status,
            PkiStatus::kPending);
  // A rejected one is FAILURE, for the poll and for a retransmission.
  ASSERT_TRUE(store_->RejectTransaction("default", "tid-busy", absl::Hours(1)).ok());
  auto rejected = Attributes(Post(Message(id, MessageType::kCertPoll, "tid-busy", ias)));
  EXPECT_EQ(rejected.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(rejected.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(*rejected.fail_info_text, "rejected"));
  std::string wrong = codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                                    X509_get_subject_name(ca_.get()))
                          .value();
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kCertPoll, "tid-p1", wrong))).fail_info,
            FailInfo::kBadCertId);
}

TEST_F(PkiMessagesTest, GetCertBySerial) {
  Identity id = Enroll("getcert", "tid-g1");
  std::string ias = codec::EncodeIssuerAndSerial(X509_get_subject_name(ca_.get()),
                                                 X509_get0_serialNumber(id.cert.get()))
                        .value();
  codec::OpenedCertRep rep = Open(Post(Message(id, MessageType::kGetCert, "tid-g2", ias)), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(rep.certificates[0].get(), id.cert.get()), 0);
  crypto::Asn1IntegerPtr other(ASN1_INTEGER_new());
  ASN1_INTEGER_set(other.get(), 12345);
  std::string unknown =
      codec::EncodeIssuerAndSerial(X509_get_subject_name(ca_.get()), other.get()).value();
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kGetCert, "tid-g3", unknown))).fail_info,
            FailInfo::kBadCertId);
  std::string foreign =
      codec::EncodeIssuerAndSerial(X509_get_subject_name(id.cert.get()), other.get()).value();
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kGetCert, "tid-g4", foreign))).fail_info,
            FailInfo::kBadCertId);
  index_.SetUnavailable(true);
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-g5", ias)).status, 503);
}

TEST_F(PkiMessagesTest, GetCrlIsSignedCachedAndRefreshedOnRevocation) {
  Identity id = Enroll("crl", "tid-c1");
  std::string ias = codec::EncodeIssuerAndSerial(X509_get_subject_name(ca_.get()),
                                                 X509_get0_serialNumber(id.cert.get()))
                        .value();
  auto fetch = [&](const std::string& tid) {
    HttpResponse r = Post(Message(id, MessageType::kGetCrl, tid, ias));
    auto msg = codec::ParsePkiMessage(r.body).value();
    EXPECT_EQ(msg.attributes.pki_status, PkiStatus::kSuccess);
    std::string plain = codec::Decrypt(msg.content, id.cert.get(), id.key.get()).value();
    return codec::ParseDegenerateCrl(plain).value();
  };
  crypto::X509CrlPtr empty = fetch("tid-c2");
  EXPECT_EQ(X509_CRL_verify(empty.get(), X509_get0_pubkey(ca_.get())), 1);
  EXPECT_LE(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(empty.get())), 0);  // -1: none
  fetch("tid-c3");
  EXPECT_EQ(signer_->crls_signed.load(), 1);  // served from the cache

  ASSERT_TRUE(index_.Revoke(codec::SerialHex(X509_get0_serialNumber(id.cert.get())),
                            4, absl::Now()).ok());
  crypto::X509CrlPtr crl = fetch("tid-c4");
  EXPECT_EQ(signer_->crls_signed.load(), 2);
  ASSERT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), 1);
  X509_REVOKED* rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl.get()), 0);
  EXPECT_EQ(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(rev),
                             X509_get0_serialNumber(id.cert.get())), 0);
  crypto::SslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> reason(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, nullptr, nullptr)));
  ASSERT_NE(reason, nullptr);
  EXPECT_EQ(ASN1_ENUMERATED_get(reason.get()), 4);
}

TEST_F(PkiMessagesTest, RateLimitsPerClientAndPerSubject) {
  auto limiter = redis::NewMemoryRateLimiter(absl::Now);
  options_.extras.rate_limiter = limiter.get();
  options_.profile.per_client_per_minute = 3;
  options_.profile.per_subject_per_day = 1;
  Rebuild();
  Identity id = Enroll("limited", "tid-l1");  // 1st request of the client
  // Same subject again (new transaction): over the per-subject limit.
  auto attrs = Attributes(Post(Message(id, MessageType::kPkcsReq, "tid-l2",
                                       Csr(id.key.get(), "limited", "pw"))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(*attrs.fail_info_text, "too many requests"));
  EXPECT_EQ(signer_->issued.load(), 1);
  // Third request of this client still passes the client limit ...
  HttpResponse third = Post(Message(id, MessageType::kGetCert, "tid-l3", "x"));
  EXPECT_EQ(third.status, 200);
  // ... the fourth is over it: 429 with Retry-After, nothing processed.
  HttpResponse fourth = Post(Message(id, MessageType::kGetCert, "tid-l4", "x"));
  EXPECT_EQ(fourth.status, 429);
  ASSERT_FALSE(fourth.headers.empty());
  EXPECT_EQ(fourth.headers[0].first, "Retry-After");
  int seconds = std::stoi(fourth.headers[0].second);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 60);
}

TEST_F(PkiMessagesTest, PerClientLimitBehindATrustedProxyUsesForwardedFor) {
  auto limiter = redis::NewMemoryRateLimiter(absl::Now);
  options_.extras.rate_limiter = limiter.get();
  options_.profile.per_client_per_minute = 1;
  // The test peer 192.0.2.7 is the ingress.
  options_.trusted_proxies = TrustedProxies::Parse("192.0.2.0/24").value();
  Rebuild();
  Identity id = Enroll("proxied", "tid-p0");  // no header: the proxy itself
  // Two devices behind the same ingress each get their own budget ...
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p1", "x"), "198.51.100.1").status, 200);
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p2", "x"), "198.51.100.2").status, 200);
  // ... and the first one is now over it, whatever it claims further left.
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p3", "x"),
                 "203.0.113.50, 198.51.100.1").status,
            429);
  // Without trust the header is ignored: everything is the proxy's address,
  // which used its one request above.
  options_.trusted_proxies = TrustedProxies();
  Rebuild();
  EXPECT_EQ(Post(Message(id, MessageType::kGetCert, "tid-p4", "x"), "198.51.100.3").status, 429);
}

TEST_F(PkiMessagesTest, EcDeviceKeysAndOaepKeyTransport) {
  for (const char* curve : {"P-256", "P-384"}) {
    Identity id;
    id.key.reset(EVP_EC_gen(curve));
    id.cert = codec::SelfSignedCertificate(id.key.get(), curve).value();
    codec::PkcsReqSpec spec;
    spec.transaction_id = std::string("tid-ec-") + curve;
    spec.sender_nonce = std::string(16, curve[4]);
    spec.rsa_oaep = true;  // to the RSA RA key
    std::string der = codec::BuildPkcsReq(Csr(id.key.get(), curve, "pw"), id.cert.get(),
                                          id.key.get(), ra_.get(), spec).value();
    codec::OpenedCertRep rep = Open(Post(der), id);  // reply: ECDH to the device
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
        << rep.message.attributes.fail_info_text.value_or("");
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), id.key.get()), 1);
    EXPECT_EQ(X509_get_key_usage(rep.certificates[0].get()) & KU_KEY_AGREEMENT,
              static_cast<uint32_t>(KU_KEY_AGREEMENT));
  }
}

TEST_F(PkiMessagesTest, GetNextCaCertOnlyWhenConfigured) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/scep";
  r.raw_query = "operation=GetNextCACert";
  EXPECT_EQ(service_->Handle(r).status, 404);
  signer_ = std::make_unique<testing::InProcessSigner>("strongswan-issued.pem");
  Rebuild();
  HttpResponse resp = service_->Handle(r);
  ASSERT_EQ(resp.status, 200);
  EXPECT_EQ(resp.content_type, "application/x-x509-next-ca-cert");
  auto cms = crypto::FromDer<crypto::CmsPtr>(resp.body, d2i_CMS_ContentInfo, "m").value();
  crypto::BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(CMS_verify(cms.get(), nullptr, nullptr, nullptr, out.get(),
                       CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY), 1);
  HttpRequest caps = r;
  caps.raw_query = "operation=GetCACaps";
  EXPECT_TRUE(absl::StrContains(service_->Handle(caps).body, "GetNextCACert\n"));
}

}  // namespace
}  // namespace scep::gateway
