// CertPoll, GetCert, GetCRL, GetNextCACert, the shared-secret
// fast path and single-use nonces through the gateway's SCEP service with an
// in-process signer and stores (renewal: pki_renewal_test.cc).

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/metrics/json_log.h"
#include "common/redis/unconfirmed_write.h"
#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;
using testing::CountingStore;
using testing::Identity;
using testing::PkiMessagesTest;

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

// With --redis_wait_replicas, a completion Redis ran but whose replication
// could not be confirmed (the primary went away during WAIT) withholds the
// certificate: 503, no journal, no second certificate. The device's retry
// then gets the recorded one (its records survived here). A completion or
// index entry Redis did not take (unreachable: journalled) withholds it too.
TEST_F(PkiMessagesTest, AnUnconfirmedCompletionWithholdsTheCertificate) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  counting.complete_result = redis::UnconfirmedWriteError("Redis CompleteTransaction: lost");
  Identity id = NewDevice("unconfirmed");
  const std::string csr = Csr(id.key.get(), "unconfirmed", "pw");
  const std::string request = Message(id, MessageType::kPkcsReq, "tid-unconfirmed", csr);
  HttpResponse withheld = Post(request);
  EXPECT_EQ(withheld.status, 503) << withheld.body;
  EXPECT_EQ(signer_->issued.load(), 1);
  counting.complete_result = absl::OkStatus();
  codec::OpenedCertRep retried = Open(Post(request), id);
  ASSERT_EQ(retried.message.attributes.pki_status, PkiStatus::kSuccess);
  ASSERT_EQ(retried.certificates.size(), 1u);
  EXPECT_EQ(signer_->issued.load(), 1);  // the recorded certificate
  const std::string serial =
      codec::SerialHex(X509_get0_serialNumber(retried.certificates[0].get()));
  EXPECT_TRUE(index_.Get(serial).value().has_value());

  counting.complete_result = absl::UnavailableError(
      "Redis CompleteTransaction: not tried (kept, applied when Redis is back)");
  Identity other = NewDevice("unreachable");
  const std::string unreachable = Message(other, MessageType::kPkcsReq, "tid-unreachable",
                                          Csr(other.key.get(), "unreachable", "pw"));
  EXPECT_EQ(Post(unreachable).status, 503);
  EXPECT_EQ(signer_->issued.load(), 2);
  counting.complete_result = absl::OkStatus();
  codec::OpenedCertRep handed = Open(Post(unreachable), other);
  EXPECT_EQ(handed.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(signer_->issued.load(), 2);  // the journal's write landed: the same one

  // The index entry waits in the journal: withheld as well.
  index_.SetUnavailable(true);
  Identity third = NewDevice("unindexed");
  const std::string unindexed = Message(third, MessageType::kPkcsReq, "tid-unindexed",
                                        Csr(third.key.get(), "unindexed", "pw"));
  EXPECT_EQ(Post(unindexed).status, 503);
  index_.SetUnavailable(false);
}

// The log lines with `event`, each parsed as JSON (a line that is not JSON
// fails the test).
std::vector<google::protobuf::Struct> LogLines(const std::string& text,
                                               const std::string& event) {
  std::vector<google::protobuf::Struct> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok())
        << line;
    auto it = parsed.fields().find("event");
    if (it != parsed.fields().end() && it->second.string_value() == event) {
      lines.push_back(parsed);
    }
  }
  return lines;
}

std::string Field(const google::protobuf::Struct& line, const std::string& key) {
  auto it = line.fields().find(key);
  return it == line.fields().end() ? "" : it->second.string_value();
}

// A withheld certificate is one JSON log line (the gateway's logger, not a
// bare stderr text that could interleave with it) naming the profile, the
// transaction and the serial.
TEST_F(PkiMessagesTest, AWithheldCertificateIsOneJsonLogLine) {
  std::ostringstream text;
  metrics::JsonLogger log(&text);
  options_.extras.log = &log;
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  counting.complete_result = redis::UnconfirmedWriteError("Redis CompleteTransaction: lost");
  Identity id = NewDevice("logged");
  EXPECT_EQ(Post(Message(id, MessageType::kPkcsReq, "tid-logged",
                         Csr(id.key.get(), "logged", "pw")))
                .status,
            503);
  std::vector<google::protobuf::Struct> withheld = LogLines(text.str(), "certificate_withheld");
  ASSERT_EQ(withheld.size(), 1u) << text.str();
  EXPECT_EQ(Field(withheld[0], "level"), "warning");
  EXPECT_EQ(Field(withheld[0], "transaction_id"), "tid-logged");
  EXPECT_EQ(Field(withheld[0], "profile"), options_.profile.name);
  EXPECT_FALSE(Field(withheld[0], "serial").empty());

  // Its index entry not written: the same, with Redis's error.
  counting.complete_result = absl::OkStatus();
  index_.SetUnavailable(true);
  text.str("");
  Identity other = NewDevice("unindexed-logged");
  EXPECT_EQ(Post(Message(other, MessageType::kPkcsReq, "tid-unindexed-logged",
                         Csr(other.key.get(), "unindexed-logged", "pw")))
                .status,
            503);
  index_.SetUnavailable(false);
  withheld = LogLines(text.str(), "certificate_withheld");
  ASSERT_EQ(withheld.size(), 1u) << text.str();
  EXPECT_EQ(Field(withheld[0], "transaction_id"), "tid-unindexed-logged");
  EXPECT_FALSE(Field(withheld[0], "error").empty());
}

// A PKCSReq's nonce is recorded after decryption, a refused request's too:
// the nonce in any other message is a replay, while the identical message
// again (a client or proxy retrying) is answered as the first one was.
TEST_F(PkiMessagesTest, EveryPkcsReqNonceIsSingleUse) {
  CountingStore counting(store_.get());
  service_ = std::make_unique<ScepService>(options_, signer_.get(), &counting, &index_,
                                           &certs_);
  auto nonce_of = [](const std::string& der) {
    return codec::ParsePkiMessage(der).value().attributes.sender_nonce;
  };
  Identity id = NewDevice("twice");
  const std::string csr = Csr(id.key.get(), "twice", "pw");
  const std::string accepted = Message(id, MessageType::kPkcsReq, "tid-twice", csr);
  codec::OpenedCertRep first = Open(Post(accepted), id);
  ASSERT_EQ(first.message.attributes.pki_status, PkiStatus::kSuccess);
  codec::OpenedCertRep again = Open(Post(accepted), id);
  ASSERT_EQ(again.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(X509_cmp(again.certificates[0].get(), first.certificates[0].get()), 0);
  // The same request in a new message reusing the nonce: a replay.
  codec::ScepAttributes replay = Attributes(
      Post(Message(id, MessageType::kPkcsReq, "tid-twice", csr, nonce_of(accepted))));
  EXPECT_EQ(replay.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(replay.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(replay.fail_info_text, kReplayText);
  const std::string wrong =
      Message(id, MessageType::kPkcsReq, "tid-wrong", Csr(id.key.get(), "twice", "nope"));
  EXPECT_EQ(Attributes(Post(wrong)).fail_info_text, "challenge password wrong");
  EXPECT_EQ(Attributes(Post(wrong)).fail_info_text, "challenge password wrong");
  // A refused request's nonce is spent as well.
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kPkcsReq, "tid-wrong", csr,
                                    nonce_of(wrong))))
                .fail_info_text,
            kReplayText);
  const std::string garbage = Message(id, MessageType::kPkcsReq, "tid-garbage", "not a CSR");
  EXPECT_EQ(Attributes(Post(garbage)).fail_info, FailInfo::kBadMessageCheck);
  codec::ScepAttributes garbage_again = Attributes(Post(garbage));
  EXPECT_EQ(garbage_again.fail_info, FailInfo::kBadMessageCheck);
  EXPECT_NE(garbage_again.fail_info_text, kReplayText);
  EXPECT_EQ(signer_->issued.load(), 1);
  // The accepted request, its retransmission and the two nonces reused with
  // a good request took the one-step path; the refused ones recorded theirs
  // alone.
  EXPECT_EQ(counting.nonce_and_claim_calls, 4);
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

// A CertPoll names the subject of the request (RFC 8894 3.3.3); under a
// subject template the certificate's differs, and the poll still finds it.
TEST_F(PkiMessagesTest, CertPollUnderASubjectTemplateNamesTheRequestedSubject) {
  options_.profile.subject = {{"CN", "{CN}"}, {"O", "Example Fleet"}};
  Rebuild();
  Identity id = Enroll("tmpl-poller", "tid-tp");
  ASSERT_EQ(codec::SubjectText(X509_get_subject_name(id.cert.get())),
            "O=Example Fleet,CN=tmpl-poller");
  auto poll = [&](const char* cn) {
    crypto::X509NamePtr requested(X509_NAME_new());
    X509_NAME_add_entry_by_txt(requested.get(), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    std::string ias =
        codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()), requested.get())
            .value();
    return Post(Message(id, MessageType::kCertPoll, "tid-tp", ias));
  };
  codec::OpenedCertRep rep = Open(poll("tmpl-poller"), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(X509_cmp(rep.certificates[0].get(), id.cert.get()), 0);
  // The certificate's own subject is accepted too.
  std::string by_cert = codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                                      X509_get_subject_name(id.cert.get()))
                            .value();
  EXPECT_EQ(Attributes(Post(Message(id, MessageType::kCertPoll, "tid-tp", by_cert))).pki_status,
            PkiStatus::kSuccess);
  // Another subject is not this transaction's.
  EXPECT_EQ(Attributes(poll("someone-else")).fail_info, FailInfo::kBadCertId);
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
  // sscep names the RA (its -c certificate) as the issuer: accepted.
  std::string by_ra = codec::EncodeIssuerAndSerial(X509_get_subject_name(ra_.get()),
                                                   X509_get0_serialNumber(id.cert.get()))
                          .value();
  codec::OpenedCertRep via_ra =
      Open(Post(Message(id, MessageType::kGetCert, "tid-g6", by_ra)), id);
  ASSERT_EQ(via_ra.message.attributes.pki_status, PkiStatus::kSuccess)
      << via_ra.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(X509_cmp(via_ra.certificates[0].get(), id.cert.get()), 0);
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
  // The RA's name as issuer (sscep): the CA's CRL all the same.
  ias = codec::EncodeIssuerAndSerial(X509_get_subject_name(ra_.get()),
                                     X509_get0_serialNumber(id.cert.get()))
            .value();
  crypto::X509CrlPtr via_ra = fetch("tid-c5");
  EXPECT_EQ(X509_CRL_verify(via_ra.get(), X509_get0_pubkey(ca_.get())), 1);
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

// The envelope in BER (indefinite lengths), as jscep/BouncyCastle and
// Apple's client send it: issued, and a CertPoll in BER answered (before,
// FAILURE badMessageCheck "not a supported EnvelopedData").
TEST_F(PkiMessagesTest, BerEnvelopesAreAnswered) {
  Identity id = NewDevice("ber-device");
  codec::PkcsReqSpec spec;
  spec.transaction_id = "tid-ber";
  spec.sender_nonce = std::string(16, 'e');
  spec.cipher = "aes-256-cbc";
  spec.ber_envelope = true;
  std::string der = codec::BuildPkcsReq(Csr(id.key.get(), "ber-device", "pw"), id.cert.get(),
                                        id.key.get(), ra_.get(), spec).value();
  codec::OpenedCertRep rep = Open(Post(der), id);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(codec::EnvelopeCipher(rep.message.content).value_or(""), "aes-256-cbc");
  ASSERT_EQ(rep.certificates.size(), 1u);
  crypto::X509Ptr issued = std::move(rep.certificates[0]);
  std::string ias = codec::EncodeIssuerAndSubject(X509_get_subject_name(ca_.get()),
                                                  X509_get_subject_name(issued.get()))
                        .value();
  spec.message_type = MessageType::kCertPoll;
  spec.sender_nonce = std::string(16, 'f');
  codec::OpenedCertRep polled = Open(
      Post(codec::BuildPkcsReq(ias, id.cert.get(), id.key.get(), ra_.get(), spec).value()), id);
  ASSERT_EQ(polled.message.attributes.pki_status, PkiStatus::kSuccess)
      << polled.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(X509_cmp(polled.certificates[0].get(), issued.get()), 0);
  EXPECT_EQ(signer_->issued.load(), 1);
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
