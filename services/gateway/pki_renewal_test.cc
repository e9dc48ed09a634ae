// RenewalReq (RFC 8894 section 3.3.1.2) and device-key checks through the
// gateway's SCEP service with an in-process signer and stores.

#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;
using testing::Identity;
using testing::PkiMessagesTest;

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

// Under a subject template the certificate's subject is the template's
// (CN from the request, O added); a device renews with the subject it was
// configured with, and gets the same subject again.
TEST_F(PkiMessagesTest, RenewalUnderASubjectTemplateKeepsTheTemplatedSubject) {
  options_.profile.subject = {{"CN", "{CN}"}, {"O", "Example Fleet"}};
  Rebuild();
  Identity id = Enroll("templated", "tid-t1");
  ASSERT_EQ(codec::SubjectText(X509_get_subject_name(id.cert.get())),
            "O=Example Fleet,CN=templated");
  for (const char* tid : {"tid-t2", "tid-t3"}) {
    crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
    codec::OpenedCertRep rep = Open(
        Post(Message(id, MessageType::kRenewalReq, tid, Csr(new_key.get(), "templated", ""))),
        id);
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
        << tid << ": " << rep.message.attributes.fail_info_text.value_or("");
    ASSERT_EQ(rep.certificates.size(), 1u);
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(rep.certificates[0].get()),
                            X509_get_subject_name(id.cert.get())),
              0);
    // The renewed certificate renews in turn.
    id.cert = std::move(rep.certificates[0]);
    id.key = std::move(new_key);
  }
  // Another CN is another identity.
  auto attrs = Attributes(Post(Message(id, MessageType::kRenewalReq, "tid-t4",
                                       Csr(id.key.get(), "someone-else", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "keep the subject"));
  EXPECT_EQ(signer_->issued.load(), 3);
}

// sscep -O/-K, Windows' SCEP client and Cisco IOS renew with a PKCSReq
// signed by the current certificate and no challenge: authenticated as a
// RenewalReq (before: FAILURE "challenge password missing").
TEST_F(PkiMessagesTest, PkcsReqSignedByTheCurrentCertificateRenews) {
  Identity old_id = Enroll("pre-draft-renewal", "tid-pd1");
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  codec::OpenedCertRep rep = Open(Post(Message(old_id, MessageType::kPkcsReq, "tid-pd2",
                                               Csr(new_key.get(), "pre-draft-renewal", ""))),
                                  old_id);  // encrypted to the old certificate
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(rep.certificates.size(), 1u);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), new_key.get()), 1);
  EXPECT_EQ(signer_->issued.load(), 2);
  // As a renewal: another subject is refused ...
  auto attrs = Attributes(Post(Message(old_id, MessageType::kPkcsReq, "tid-pd3",
                                       Csr(new_key.get(), "someone-else", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "keep the subject"));
  // ... a request with a challenge is an enrollment, decided by it ...
  attrs = Attributes(Post(Message(old_id, MessageType::kPkcsReq, "tid-pd4",
                                  Csr(new_key.get(), "pre-draft-renewal", "wrong"))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "challenge password wrong"));
  // ... and a revoked certificate renews nothing.
  ASSERT_TRUE(index_.Revoke(codec::SerialHex(X509_get0_serialNumber(old_id.cert.get())), 1,
                            absl::Now()).ok());
  attrs = Attributes(Post(Message(old_id, MessageType::kPkcsReq, "tid-pd5",
                                  Csr(new_key.get(), "pre-draft-renewal", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "revoked"));
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

// The same key signing with `cert` (up-referenced, not copied).
Identity SignedWith(const Identity& id, X509* cert) {
  Identity out;
  EVP_PKEY_up_ref(id.key.get());
  out.key.reset(id.key.get());
  X509_up_ref(cert);
  out.cert.reset(cert);
  return out;
}

std::string SerialOf(const codec::OpenedCertRep& rep) {
  return rep.certificates.empty()
             ? ""
             : codec::SerialHex(X509_get0_serialNumber(rep.certificates[0].get()));
}

// certmonger derives the transactionID from the key and renews with the
// same key by default: its renewal is a PKCSReq in the transaction that
// issued the certificate it is signed with.
TEST_F(PkiMessagesTest, SameKeyRequestSignedWithTheIssuedCertificateRenews) {
  Identity device = Enroll("same-key", "tid-sk");
  ASSERT_EQ(signer_->issued.load(), 1);
  crypto::X509Ptr first(X509_dup(device.cert.get()));
  const std::string csr = Csr(device.key.get(), "same-key", "pw");

  // Signed with a self-signed certificate, as the first request was: a
  // retransmission, answered with the certificate already issued.
  crypto::X509Ptr self_signed =
      codec::SelfSignedCertificate(device.key.get(), "same-key").value();
  Identity again = SignedWith(device, self_signed.get());
  codec::OpenedCertRep rep =
      Open(Post(Message(again, MessageType::kPkcsReq, "tid-sk", csr)), again);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(SerialOf(rep), codec::SerialHex(X509_get0_serialNumber(first.get())));
  EXPECT_EQ(signer_->issued.load(), 1);

  // Signed with that certificate: its holder asks again, a new certificate
  // for the same key in the same transaction.
  rep = Open(Post(Message(device, MessageType::kPkcsReq, "tid-sk", csr)), device);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(rep.certificates.size(), 1u);
  const std::string second = SerialOf(rep);
  EXPECT_NE(second, codec::SerialHex(X509_get0_serialNumber(first.get())));
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), device.key.get()), 1);
  EXPECT_EQ(signer_->issued.load(), 2);
  crypto::X509Ptr renewed = std::move(rep.certificates[0]);

  // That renewal retransmitted (still signed with the first certificate):
  // the renewed certificate again, nothing issued.
  Identity old_holder = SignedWith(device, first.get());
  rep = Open(Post(Message(old_holder, MessageType::kPkcsReq, "tid-sk", csr)), old_holder);
  EXPECT_EQ(SerialOf(rep), second);
  EXPECT_EQ(signer_->issued.load(), 2);

  // Before the profile's renewal window the holder gets its certificate
  // back rather than a refusal (365-day certificate, 30-day window).
  options_.profile.renewal_window = absl::Hours(24 * 30);
  Rebuild();
  Identity holder = SignedWith(device, renewed.get());
  rep = Open(Post(Message(holder, MessageType::kPkcsReq, "tid-sk", csr)), holder);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(SerialOf(rep), second);
  EXPECT_EQ(signer_->issued.load(), 2);
  options_.profile.renewal_window = absl::ZeroDuration();
  Rebuild();

  // A revoked certificate renews nothing.
  ASSERT_TRUE(index_.Revoke(second, 1, absl::Now()).ok());
  auto attrs = Attributes(Post(Message(holder, MessageType::kPkcsReq, "tid-sk", csr)));
  EXPECT_EQ(attrs.pki_status, PkiStatus::kFailure);
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "revoked"));
  EXPECT_EQ(signer_->issued.load(), 2);
}

// A renewal in the same transaction that the signer cannot serve leaves
// the transaction as it was, issued with its certificate: it was deleted
// (the reopened claim released), and a later retransmission of the first
// request got a second certificate.
TEST_F(PkiMessagesTest, SameKeyRenewalTheSignerCannotServeKeepsTheTransaction) {
  Identity device = Enroll("same-key-down", "tid-skd");
  const std::string first = codec::SerialHex(X509_get0_serialNumber(device.cert.get()));
  const std::string csr = Csr(device.key.get(), "same-key-down", "pw");
  signer_->issue_down = true;
  HttpResponse down = Post(Message(device, MessageType::kPkcsReq, "tid-skd", csr));
  EXPECT_EQ(down.status, 503);
  signer_->issue_down = false;
  absl::StatusOr<std::optional<redis::Transaction>> txn =
      store_->GetTransaction(options_.profile.name, "tid-skd");
  ASSERT_TRUE(txn.ok() && txn->has_value());
  EXPECT_EQ((*txn)->state, redis::Transaction::State::kIssued);
  // The first request again (signed with its self-signed certificate): the
  // first certificate, nothing issued.
  crypto::X509Ptr self_signed =
      codec::SelfSignedCertificate(device.key.get(), "same-key-down").value();
  Identity again = SignedWith(device, self_signed.get());
  codec::OpenedCertRep rep =
      Open(Post(Message(again, MessageType::kPkcsReq, "tid-skd", csr)), again);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_EQ(SerialOf(rep), first);
  EXPECT_EQ(signer_->issued.load(), 1);
  // And the renewal, tried again, renews.
  rep = Open(Post(Message(device, MessageType::kPkcsReq, "tid-skd", csr)), device);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess);
  EXPECT_NE(SerialOf(rep), first);
  EXPECT_EQ(signer_->issued.load(), 2);
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

TEST_F(PkiMessagesTest, RenewalReindexRecordsACertificateRedisLost) {
  options_.pki.renewal_reindex = true;
  Rebuild();
  Identity kept = Enroll("kept", "tid-k1");
  Identity revoked = Enroll("revoked", "tid-k2");
  const std::string kept_serial = codec::SerialHex(X509_get0_serialNumber(kept.cert.get()));
  const std::string revoked_serial =
      codec::SerialHex(X509_get0_serialNumber(revoked.cert.get()));
  const absl::Time revoked_at = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  ASSERT_TRUE(index_.Revoke(revoked_serial, 1, revoked_at).ok());
  // Redis lost everything; the revocation came back from the last CRL
  // (scepctl crl restore), the certificates did not.
  index_.LoseEverything();
  ASSERT_EQ(*index_.RestoreRevoked({{revoked_serial, revoked_at, 1}}, 1), 1);
  ASSERT_FALSE(index_.Get(kept_serial)->has_value());

  codec::OpenedCertRep rep = Open(Post(Message(kept, MessageType::kRenewalReq, "tid-k3",
                                               Csr(kept.key.get(), "kept", ""))), kept);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  // Recorded again, as the certificate the device signed with.
  std::optional<redis::CertificateRecord> record = *index_.Get(kept_serial);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->certificate, crypto::ToDer(kept.cert.get(), i2d_X509).value());
  EXPECT_EQ(record->profile, "default");
  EXPECT_FALSE(record->revoked);

  auto attrs = Attributes(Post(Message(revoked, MessageType::kRenewalReq, "tid-k4",
                                       Csr(revoked.key.get(), "revoked", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_TRUE(absl::StrContains(attrs.fail_info_text.value_or(""), "revoked"));
  // Recorded again as what it is: revoked, with the restored date and
  // reason, and its list entry now knows when the certificate expires.
  std::optional<redis::CertificateRecord> refused = index_.Get(revoked_serial).value();
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(refused->revoked);
  EXPECT_EQ(refused->reason, 1);
  EXPECT_EQ(refused->revoked_at, revoked_at);
  EXPECT_EQ(index_.GetRevoked(revoked_serial).value()->not_after,
            absl::FromUnixSeconds(crypto::UnixSeconds(X509_get0_notAfter(revoked.cert.get()))));
  EXPECT_EQ(signer_->issued.load(), 3);

  // Off (the default): the same loss refuses the renewal with badCertId.
  options_.pki.renewal_reindex = false;
  Rebuild();
  index_.LoseEverything();
  attrs = Attributes(Post(Message(kept, MessageType::kRenewalReq, "tid-k5",
                                  Csr(kept.key.get(), "kept", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadCertId);
  EXPECT_FALSE(index_.Get(kept_serial)->has_value());
  EXPECT_EQ(signer_->issued.load(), 3);
}


// After a CA rollover the gateway's CA is another one; the certificates
// the CA it replaced issued still authenticate a renewal (and GetCert) once
// the signer publishes that CA as previous (ca-previous.pem), and only then.
TEST_F(PkiMessagesTest, CertificateOfThePreviousCaRenewsAfterARollover) {
  Identity old_id = Enroll("rolled-over", "tid-ro1");
  crypto::EvpPkeyPtr next_key(EVP_RSA_gen(2048));
  auto rolled_over = [&](bool previous_published) {
    std::shared_ptr<const CaSet> current = certs_.Get().value();
    auto set = std::make_shared<CaSet>();
    set->ca = codec::SelfSignedCertificate(next_key.get(), "Next CA").value();
    set->ra.reset(X509_dup(current->ra.get()));
    if (previous_published) set->previous_cas.emplace_back(X509_dup(ca_.get()));
    certs_.Set(std::move(set));
  };
  const std::string by_old_ca =
      codec::EncodeIssuerAndSerial(X509_get_subject_name(ca_.get()),
                                   X509_get0_serialNumber(old_id.cert.get()))
          .value();
  rolled_over(false);
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  codec::ScepAttributes refused = Attributes(Post(Message(
      old_id, MessageType::kRenewalReq, "tid-ro2", Csr(new_key.get(), "rolled-over", ""))));
  EXPECT_EQ(refused.fail_info, FailInfo::kBadMessageCheck);
  EXPECT_EQ(Attributes(Post(Message(old_id, MessageType::kGetCert, "tid-ro3", by_old_ca)))
                .fail_info,
            FailInfo::kBadCertId);
  rolled_over(true);
  for (MessageType type : {MessageType::kRenewalReq, MessageType::kPkcsReq}) {
    const std::string tid = type == MessageType::kPkcsReq ? "tid-ro5" : "tid-ro4";
    codec::OpenedCertRep rep = Open(
        Post(Message(old_id, type, tid, Csr(new_key.get(), "rolled-over", ""))), old_id);
    ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
        << tid << ": " << rep.message.attributes.fail_info_text.value_or("");
    ASSERT_EQ(rep.certificates.size(), 1u);
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(rep.certificates[0].get()), new_key.get()), 1);
  }
  codec::OpenedCertRep got =
      Open(Post(Message(old_id, MessageType::kGetCert, "tid-ro6", by_old_ca)), old_id);
  ASSERT_EQ(got.message.attributes.pki_status, PkiStatus::kSuccess)
      << got.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(got.certificates.size(), 1u);
  EXPECT_EQ(X509_cmp(got.certificates[0].get(), old_id.cert.get()), 0);
  // A certificate of neither CA still does not renew.
  Identity stranger = NewDevice("rolled-over");
  EXPECT_EQ(Attributes(Post(Message(stranger, MessageType::kRenewalReq, "tid-ro7",
                                    Csr(new_key.get(), "rolled-over", ""))))
                .fail_info,
            FailInfo::kBadMessageCheck);
}

}  // namespace
}  // namespace scep::gateway
