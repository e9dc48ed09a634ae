#include "services/admin/admin_core.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/codec/client.h"
#include "common/codec/csr.h"
#include "common/crypto/der.h"
#include "gtest/gtest.h"
#include "services/admin/admin_core_test_fixture.h"

namespace scep::admin::testing {
namespace {

TEST_F(AdminCoreTest, ChallengesOnlyForOneTimeProfilesAndNeverLogged) {
  v1::CreateChallengeRequest request;
  request.set_profile("default");
  EXPECT_EQ(core_->CreateChallenge(request, "op").status().code(), kFailedPrecondition);
  request.set_profile("nope");
  EXPECT_EQ(core_->CreateChallenge(request, "op").status().code(), kFailedPrecondition);
  request.set_profile("onetime");
  request.set_ttl_seconds(31 * 24 * 3600);
  EXPECT_EQ(core_->CreateChallenge(request, "op").status().code(),
            absl::StatusCode::kInvalidArgument);

  request.set_ttl_seconds(0);
  request.set_subject("CN=device-7");
  auto created = core_->CreateChallenge(request, "op");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->challenge().size(), 32u);  // 24 random bytes, base64url
  EXPECT_EQ(created->challenge().find_first_of("+/="), std::string::npos);
  EXPECT_NEAR(created->expires_unix(), absl::ToUnixSeconds(absl::Now() + absl::Hours(1)), 5);
  auto other = core_->CreateChallenge(request, "op");
  EXPECT_NE(other->challenge(), created->challenge());

  auto bound = challenges_.Claim("onetime", created->challenge(), "tid-7", "fp-7");
  ASSERT_TRUE(bound.ok() && bound->has_value());
  EXPECT_EQ(**bound, "CN=device-7");
  EXPECT_FALSE(challenges_.Claim("onetime", created->challenge(), "tid-8", "fp-8")->has_value());
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), "create_challenge"));
  EXPECT_FALSE(absl::StrContains(audit_text_.str(), created->challenge()));
  EXPECT_FALSE(absl::StrContains(audit_text_.str(), other->challenge()));
}

TEST_F(AdminCoreTest, ApproveIssuesCompletesTheTransactionAndAudits) {
  Queue("tid-1", "dev-1");
  auto approved = core_->ApproveRequest(Approve("tid-1"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_FALSE(approved->serial_hex().empty());
  auto stored = requests_.Get("approval", "tid-1").value();
  EXPECT_EQ(stored->status, ApprovalRequest::Status::kIssued);
  EXPECT_EQ(stored->serial_hex, approved->serial_hex());
  EXPECT_EQ(stored->actor, "alice");
  // The device's CertPoll now finds the certificate.
  auto txn = transactions_->GetTransaction("approval", "tid-1").value();
  ASSERT_TRUE(txn.has_value());
  EXPECT_EQ(txn->state, Transaction::State::kIssued);
  EXPECT_EQ(txn->certificate, approved->certificate());
  auto indexed = index_.Get(approved->serial_hex()).value();
  ASSERT_TRUE(indexed.has_value());
  EXPECT_EQ(indexed->profile, "approval");

  const std::string audit = audit_text_.str();
  EXPECT_TRUE(absl::StrContains(audit, R"("from":"REQUESTED","to":"APPROVED")")) << audit;
  EXPECT_TRUE(absl::StrContains(audit, R"("from":"APPROVED","to":"ISSUED")")) << audit;
  EXPECT_TRUE(absl::StrContains(audit, R"("actor":"alice")"));
  EXPECT_TRUE(absl::StrContains(audit, R"("transaction_id":"tid-1")"));
  EXPECT_TRUE(absl::StrContains(audit, R"("subject":"CN=dev-1")"));

  // Approving again answers the same certificate; nothing new is issued.
  const int issued = signer_.issued.load();
  auto again = core_->ApproveRequest(Approve("tid-1"), "bob");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->serial_hex(), approved->serial_hex());
  EXPECT_EQ(signer_.issued.load(), issued);
}

TEST_F(AdminCoreTest, SignerDownLeavesApprovedAndApprovingAgainIssuesOnce) {
  Queue("tid-2", "dev-2");
  signer_.issue_down = true;
  EXPECT_EQ(core_->ApproveRequest(Approve("tid-2"), "alice").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusOf("tid-2"), ApprovalRequest::Status::kApproved);
  EXPECT_EQ(transactions_->GetTransaction("approval", "tid-2").value()->state,
            Transaction::State::kPending);
  signer_.issue_down = false;
  const int issued = signer_.issued.load();
  auto approved = core_->ApproveRequest(Approve("tid-2"), "alice");
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(signer_.issued.load(), issued + 1);
  EXPECT_EQ(StatusOf("tid-2"), ApprovalRequest::Status::kIssued);
}

TEST_F(AdminCoreTest, RejectFailsTheTransactionAndBlocksApproval) {
  Queue("tid-3", "dev-3");
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id("tid-3");
  reject.set_reason("unknown device");
  ASSERT_TRUE(core_->RejectRequest(reject, "carol").ok());
  EXPECT_EQ(StatusOf("tid-3"), ApprovalRequest::Status::kRejected);
  EXPECT_EQ(transactions_->GetTransaction("approval", "tid-3").value()->state,
            Transaction::State::kRejected);
  EXPECT_TRUE(core_->RejectRequest(reject, "carol").ok());  // idempotent
  EXPECT_EQ(core_->ApproveRequest(Approve("tid-3"), "alice").status().code(),
            kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("reason":"unknown device")"));

  reject.set_transaction_id("missing");
  EXPECT_EQ(core_->RejectRequest(reject, "carol").status().code(), absl::StatusCode::kNotFound);
  reject.set_transaction_id("");
  EXPECT_EQ(core_->RejectRequest(reject, "carol").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminCoreTest, ListRequestsFiltersByStatus) {
  Queue("a", "dev-a");
  Queue("b", "dev-b");
  v1::RejectRequestRequest reject;
  reject.set_profile("approval");
  reject.set_transaction_id("b");
  ASSERT_TRUE(core_->RejectRequest(reject, "op").ok());
  v1::ListRequestsRequest list;
  list.set_status(v1::REQUEST_STATUS_REQUESTED);
  auto page = core_->ListRequests(list, "op");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->requests_size(), 1);
  EXPECT_EQ(page->requests(0).transaction_id(), "a");
  EXPECT_EQ(page->requests(0).subject(), "CN=dev-a");
  list.set_status(v1::REQUEST_STATUS_UNSPECIFIED);
  list.set_profile("approval");
  EXPECT_EQ(core_->ListRequests(list, "op")->requests_size(), 2);
  list.set_page_size(5000);
  EXPECT_EQ(core_->ListRequests(list, "op").status().code(),
            absl::StatusCode::kInvalidArgument);
  list.set_page_size(0);
  list.set_profile("aproval");  // mistyped: not "no requests"
  EXPECT_EQ(core_->ListRequests(list, "op").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AdminCoreTest, EnrollRevokeListAndCrl) {
  v1::EnrollRequest enroll;
  enroll.set_profile("onetime");
  enroll.set_csr(Csr("laptop-9"));
  auto issued = core_->Enroll(enroll, "token");
  ASSERT_TRUE(issued.ok()) << issued.status();
  enroll.set_profile("default");
  enroll.set_csr(Csr("printer-1"));
  ASSERT_TRUE(core_->Enroll(enroll, "token").ok());

  v1::GetCertificateRequest get;
  get.set_serial_hex(issued->serial_hex());
  auto cert = core_->GetCertificate(get, "token");
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->status(), v1::CERTIFICATE_STATUS_VALID);
  EXPECT_EQ(cert->der(), issued->certificate());
  EXPECT_EQ(cert->profile(), "onetime");
  // The profile's subject template applied.
  EXPECT_TRUE(absl::StrContains(cert->subject(), "O=Example Fleet")) << cert->subject();
  EXPECT_GT(cert->not_after_unix(), cert->not_before_unix());

  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex(issued->serial_hex());
  revoke.set_reason(7);
  EXPECT_EQ(core_->RevokeCertificate(revoke, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
  revoke.set_reason(1);
  ASSERT_TRUE(core_->RevokeCertificate(revoke, "token").ok());
  EXPECT_EQ(core_->GetCertificate(get, "token")->status(), v1::CERTIFICATE_STATUS_REVOKED);
  revoke.set_serial_hex("abcdef");
  EXPECT_EQ(core_->RevokeCertificate(revoke, "token").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("action":"revoke")"));

  v1::ListCertificatesRequest list;
  list.set_status(v1::CERTIFICATE_STATUS_REVOKED);
  auto revoked = core_->ListCertificates(list, "token");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->certificates_size(), 1);
  EXPECT_EQ(revoked->certificates(0).serial_hex(), issued->serial_hex());
  list.set_status(v1::CERTIFICATE_STATUS_UNSPECIFIED);
  list.set_subject_contains("PRINTER");
  auto printers = core_->ListCertificates(list, "token");
  ASSERT_EQ(printers->certificates_size(), 1);
  EXPECT_EQ(printers->certificates(0).profile(), "default");
  list.set_subject_contains("");
  list.set_page_size(1);
  auto first = core_->ListCertificates(list, "token");
  ASSERT_EQ(first->certificates_size(), 1);
  EXPECT_FALSE(first->next_page_token().empty());

  auto crl = core_->GetCrl(v1::GetCRLRequest(), "token");
  ASSERT_TRUE(crl.ok()) << crl.status();
  auto parsed = crypto::FromDer<crypto::X509CrlPtr>(crl->crl(), d2i_X509_CRL, "CRL");
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(parsed->get())), 1);

  enroll.set_csr("not a csr");
  EXPECT_EQ(core_->Enroll(enroll, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
  enroll.set_profile("nope");
  EXPECT_EQ(core_->Enroll(enroll, "token").status().code(), absl::StatusCode::kNotFound);
}

// Revoking again is OK (a caller retrying after a timeout) and answers the
// revocation as it stands: first time and reason kept, and said so; only
// keyCompromise replaces an earlier reason, once, with one audit line.
TEST_F(AdminCoreTest, RevokingARevokedCertificateAnswersItsRevocation) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("retired-tablet"));
  auto issued = core_->Enroll(enroll, "token");
  ASSERT_TRUE(issued.ok()) << issued.status();
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex(issued->serial_hex());
  revoke.set_reason(4);  // superseded
  auto first = core_->RevokeCertificate(revoke, "token");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_revoked());
  EXPECT_FALSE(first->reason_changed());
  EXPECT_EQ(first->revocation_reason(), 4);
  EXPECT_GT(first->revoked_unix(), 0);
  const std::string audit_after_first = audit_text_.str();
  // The reasonCode of the CRL's one entry; -1 when there is none.
  auto crl_reason = [&]() -> long {
    auto crl = core_->GetCrl(v1::GetCRLRequest(), "token");
    EXPECT_TRUE(crl.ok()) << crl.status();
    if (!crl.ok()) return -1;
    auto parsed = crypto::FromDer<crypto::X509CrlPtr>(crl->crl(), d2i_X509_CRL, "CRL").value();
    if (sk_X509_REVOKED_num(X509_CRL_get_REVOKED(parsed.get())) != 1) return -1;
    X509_REVOKED* entry = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(parsed.get()), 0);
    crypto::SslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free> code(static_cast<ASN1_ENUMERATED*>(
        X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
    return code == nullptr ? -1 : ASN1_ENUMERATED_get(code.get());
  };
  EXPECT_EQ(crl_reason(), 4);

  for (int reason : {4, 0, 5}) {
    revoke.set_reason(reason);
    auto again = core_->RevokeCertificate(revoke, "token");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->serial_hex(), issued->serial_hex());
    EXPECT_TRUE(again->already_revoked()) << reason;
    EXPECT_FALSE(again->reason_changed()) << reason;
    EXPECT_EQ(again->revocation_reason(), 4) << reason;
    EXPECT_EQ(again->revoked_unix(), first->revoked_unix()) << reason;
  }
  EXPECT_EQ(audit_text_.str(), audit_after_first) << "nothing revoked, nothing audited";

  revoke.set_reason(1);  // keyCompromise, found out afterwards
  auto raised = core_->RevokeCertificate(revoke, "token");
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_TRUE(raised->already_revoked());
  EXPECT_TRUE(raised->reason_changed());
  EXPECT_EQ(raised->revocation_reason(), 1);
  EXPECT_EQ(raised->revoked_unix(), first->revoked_unix());
  const std::string audit = audit_text_.str().substr(audit_after_first.size());
  EXPECT_TRUE(absl::StrContains(audit, R"("from":"REVOKED","to":"REVOKED")")) << audit;
  EXPECT_TRUE(absl::StrContains(audit, R"("previous_reason":4)")) << audit;
  v1::GetCertificateRequest get;
  get.set_serial_hex(issued->serial_hex());
  auto shown = core_->GetCertificate(get, "token");
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->revocation_reason(), 1);
  EXPECT_EQ(shown->revoked_unix(), first->revoked_unix());
  EXPECT_EQ(crl_reason(), 1) << "a CRL signed anew with the reason it has now";

  auto kept = core_->RevokeCertificate(revoke, "token");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->already_revoked());
  EXPECT_FALSE(kept->reason_changed());
}

// Serials as `openssl x509 -text` and certificate viewers show them.
TEST_F(AdminCoreTest, SerialsWithColonsSpacesOrUpperCase) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("printer-2"));
  auto issued = core_->Enroll(enroll, "token");
  ASSERT_TRUE(issued.ok()) << issued.status();
  std::string colons, spaces;
  for (size_t i = 0; i < issued->serial_hex().size(); i += 2) {
    const std::string octet = absl::AsciiStrToUpper(issued->serial_hex().substr(i, 2));
    absl::StrAppend(&colons, i == 0 ? "" : ":", octet);
    absl::StrAppend(&spaces, " ", octet);
  }
  v1::GetCertificateRequest get;
  get.set_serial_hex(colons);
  auto cert = core_->GetCertificate(get, "token");
  ASSERT_TRUE(cert.ok()) << colons << ": " << cert.status();
  EXPECT_EQ(cert->serial_hex(), issued->serial_hex());
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex("00" + spaces + "\n");
  revoke.set_reason(4);
  auto revoked = core_->RevokeCertificate(revoke, "token");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->serial_hex(), issued->serial_hex());
  EXPECT_EQ(core_->GetCertificate(get, "token")->status(), v1::CERTIFICATE_STATUS_REVOKED);
  get.set_serial_hex("4g:01");
  EXPECT_EQ(core_->GetCertificate(get, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// certs list --subject: the subject as people type it, beyond ASCII and
// with ", " between attributes, or as certs list prints it.
TEST_F(AdminCoreTest, ListCertificatesMatchesSubjectsAsTyped) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("J\xC3\xBCrgen M\xC3\xBCller"));
  ASSERT_TRUE(core_->Enroll(enroll, "token").ok());
  enroll.set_profile("onetime");
  enroll.set_csr(Csr("laptop-9"));
  ASSERT_TRUE(core_->Enroll(enroll, "token").ok());
  auto matching = [&](const std::string& needle) {
    v1::ListCertificatesRequest list;
    list.set_subject_contains(needle);
    absl::StatusOr<v1::ListCertificatesResponse> found = core_->ListCertificates(list, "token");
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() ? found->certificates_size() : -1;
  };
  EXPECT_EQ(matching("J\xC3\xBCrgen"), 1);
  EXPECT_EQ(matching("cn=J\xC3\xBCrgen m\xC3\xBCller"), 1);
  EXPECT_EQ(matching("J\\C3\\BCrgen"), 1);  // as Certificate.subject has it
  EXPECT_EQ(matching("CN=laptop-9, O=Example Fleet"), 1);
  EXPECT_EQ(matching("cn=LAPTOP-9,o=example fleet"), 1);
  EXPECT_EQ(matching("CN=laptop-9,  O=Example"), 1);
  EXPECT_EQ(matching("Jurgen"), 0);
  EXPECT_EQ(matching("CN=laptop-9, O=Other"), 0);
  EXPECT_EQ(matching(""), 2);
}

TEST_F(AdminCoreTest, ProfilesCarryTemplateAndCaCertificate) {
  auto all = core_->ListProfiles(v1::ListProfilesRequest(), "token");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->profiles_size(), 3);
  EXPECT_TRUE(all->profiles(0).is_default());
  v1::GetProfileRequest get;
  get.set_name("onetime");
  auto onetime = core_->GetProfile(get, "token");
  ASSERT_TRUE(onetime.ok());
  EXPECT_EQ(onetime->challenge_mode(), "one-time");
  ASSERT_EQ(onetime->subject_size(), 2);
  EXPECT_EQ(onetime->subject(1).value(), "{CN}");
  EXPECT_EQ(onetime->key_usage(0), "digitalSignature");
  EXPECT_EQ(onetime->ca_certificate(),
            crypto::ToDer((*ca_.Get())->ca.get(), i2d_X509).value());
  get.set_name("missing");
  EXPECT_EQ(core_->GetProfile(get, "token").status().code(), absl::StatusCode::kNotFound);
}

// Disaster recovery: Redis lost the certificate index, so revoking by
// serial finds nothing; the certificate itself (from the device, the MDM,
// a backup) is checked against the profile's CA, recorded again and revoked.
TEST_F(AdminCoreTest, RevokesACertificateTheIndexLostGivenTheCertificate) {
  v1::EnrollRequest enroll;
  enroll.set_profile("default");
  enroll.set_csr(Csr("stolen-laptop"));
  auto issued = core_->Enroll(enroll, "token");
  ASSERT_TRUE(issued.ok()) << issued.status();
  crypto::X509Ptr cert =
      crypto::FromDer<crypto::X509Ptr>(issued->certificate(), d2i_X509, "issued").value();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  ASSERT_EQ(PEM_write_bio_X509(bio.get(), cert.get()), 1);
  char* pem_data = nullptr;
  const std::string pem(pem_data, BIO_get_mem_data(bio.get(), &pem_data));
  index_.LoseEverything();

  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_hex(issued->serial_hex());
  revoke.set_reason(1);
  EXPECT_EQ(core_->RevokeCertificate(revoke, "token").status().code(),
            absl::StatusCode::kNotFound);
  // Not this CA's certificate, or another serial than the one named: refused.
  v1::RevokeCertificateRequest wrong = revoke;
  crypto::EvpPkeyPtr key(EVP_RSA_gen(2048));
  wrong.set_certificate(crypto::ToDer(codec::SelfSignedCertificate(key.get(), "stolen-laptop")
                                          .value()
                                          .get(),
                                      i2d_X509)
                            .value());
  wrong.clear_serial_hex();
  EXPECT_EQ(core_->RevokeCertificate(wrong, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
  wrong.set_certificate(pem);
  wrong.set_serial_hex("0a");
  EXPECT_EQ(core_->RevokeCertificate(wrong, "token").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(index_.Get(issued->serial_hex())->has_value());

  revoke.clear_serial_hex();
  revoke.set_certificate(pem);
  auto revoked = core_->RevokeCertificate(revoke, "token");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(revoked->serial_hex(), issued->serial_hex());
  v1::GetCertificateRequest get;
  get.set_serial_hex(issued->serial_hex());
  auto got = core_->GetCertificate(get, "token");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status(), v1::CERTIFICATE_STATUS_REVOKED);
  EXPECT_EQ(got->revocation_reason(), 1);
  EXPECT_EQ(got->profile(), "default");
  std::optional<redis::RevokedSerial> listed = index_.GetRevoked(issued->serial_hex()).value();
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(absl::ToUnixSeconds(listed->not_after), got->not_after_unix());
  EXPECT_TRUE(absl::StrContains(audit_text_.str(), R"("recorded_again":true)"))
      << audit_text_.str();

  // Lost again, its revocation restored from a CRL meanwhile: recorded as
  // revoked with the restored date and reason, not revoked over again.
  const absl::Time first = listed->revoked_at;
  index_.LoseEverything();
  ASSERT_EQ(*index_.RestoreRevoked({{issued->serial_hex(), first, 1}}, 1), 1);
  revoke.set_reason(4);
  ASSERT_TRUE(core_->RevokeCertificate(revoke, "token").ok());
  std::optional<redis::CertificateRecord> again = index_.Get(issued->serial_hex()).value();
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->revoked);
  EXPECT_EQ(again->revoked_at, first);
  EXPECT_EQ(index_.GetRevoked(issued->serial_hex()).value()->reason, 1);
}

}  // namespace
}  // namespace scep::admin::testing
