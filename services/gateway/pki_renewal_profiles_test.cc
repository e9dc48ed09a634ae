// Renewal across profiles: a certificate renews under the profile that
// issued it, or under one that lists that profile in renewal_from_profiles
// (a renewal skips the profile's challenge and approval).

#include <openssl/x509v3.h>

#include "services/gateway/pki_test_fixture.h"

namespace scep::gateway {
namespace {

using codec::FailInfo;
using codec::MessageType;
using codec::PkiStatus;
using testing::Identity;
using testing::PkiMessagesTest;

// Two profiles on the default CA: "byod" (the default, challenge "pw",
// clientAuth) and "servers" (its own challenge, manual approval,
// serverAuth, longer validity).
class RenewalProfilesTest : public PkiMessagesTest {
 protected:
  void UseProfiles(std::vector<std::string> servers_renew_from) {
    service_.reset();  // it points at the profiles replaced here
    Profile byod = options_.profile;
    byod.name = "byod";
    byod.validity_days = 30;
    byod.extended_key_usage = {"clientAuth"};
    Profile servers = options_.profile;
    servers.name = "servers";
    servers.challenge = "servers-secret";
    servers.approval = Profile::Approval::kManual;
    servers.validity_days = 365;
    servers.extended_key_usage = {"serverAuth"};
    servers.renewal_from_profiles = std::move(servers_renew_from);
    profiles_ = ProfileSet::New({byod, servers}).value();
    options_.profiles = profiles_.get();
    Rebuild();
  }

  HttpResponse PostTo(const std::string& profile, const std::string& der) {
    HttpRequest r;
    r.method = "POST";
    r.path = "/scep/" + profile;
    r.raw_query = "operation=PKIOperation";
    r.body = der;
    r.remote_address = "192.0.2.7:5555";
    return service_->Handle(r);
  }

  std::string SerialOf(const Identity& id) {
    return codec::SerialHex(X509_get0_serialNumber(id.cert.get()));
  }

  std::unique_ptr<ProfileSet> profiles_;
};

// Before: a BYOD certificate renewed under "servers" (RenewalReq, or a
// PKCSReq signed by it without a challenge) and got a serverAuth
// certificate with neither the servers challenge nor an approval.
TEST_F(RenewalProfilesTest, CertificateDoesNotRenewUnderAnotherProfile) {
  UseProfiles({});
  Identity phone = Enroll("alice-phone", "tid-x1");  // /scep: byod
  ASSERT_EQ(index_.Get(SerialOf(phone)).value()->profile, "byod");
  ASSERT_EQ(signer_->issued.load(), 1);
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  for (MessageType type : {MessageType::kRenewalReq, MessageType::kPkcsReq}) {
    const std::string tid = type == MessageType::kPkcsReq ? "tid-x3" : "tid-x2";
    codec::ScepAttributes attrs = Attributes(
        PostTo("servers", Message(phone, type, tid, Csr(new_key.get(), "alice-phone", ""))));
    EXPECT_EQ(attrs.pki_status, PkiStatus::kFailure) << tid;
    EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest) << tid;
    EXPECT_EQ(attrs.fail_info_text.value_or(""),
              "the certificate was issued under another profile")
        << tid;
  }
  EXPECT_EQ(signer_->issued.load(), 1);
  // Under its own profile it renews as before, by name or at /scep.
  for (const char* path : {"byod", ""}) {
    const std::string tid = absl::StrCat("tid-x4-", path);
    const std::string msg =
        Message(phone, MessageType::kRenewalReq, tid, Csr(new_key.get(), "alice-phone", ""));
    codec::OpenedCertRep rep = Open(*path == '\0' ? Post(msg) : PostTo(path, msg), phone);
    EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
        << tid << ": " << rep.message.attributes.fail_info_text.value_or("");
  }
  EXPECT_EQ(signer_->issued.load(), 3);
}

TEST_F(RenewalProfilesTest, ProfileListingAnotherRenewsItsCertificates) {
  UseProfiles({"byod"});
  Identity phone = Enroll("alice-phone", "tid-l1");
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  codec::OpenedCertRep rep =
      Open(PostTo("servers", Message(phone, MessageType::kRenewalReq, "tid-l2",
                                     Csr(new_key.get(), "alice-phone", ""))),
           phone);
  ASSERT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  ASSERT_EQ(rep.certificates.size(), 1u);
  Identity server{std::move(new_key), std::move(rep.certificates[0])};
  // Issued and recorded under "servers": serverAuth, its validity.
  EXPECT_EQ(index_.Get(SerialOf(server)).value()->profile, "servers");
  EXPECT_EQ(X509_get_extended_key_usage(server.cert.get()) & XKU_SSL_SERVER, XKU_SSL_SERVER);
  // The list goes one way: a servers certificate does not renew as BYOD.
  codec::ScepAttributes attrs =
      Attributes(PostTo("byod", Message(server, MessageType::kRenewalReq, "tid-l3",
                                        Csr(server.key.get(), "alice-phone", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadRequest);
  EXPECT_EQ(signer_->issued.load(), 2);
}

// Records made before they named a profile (the gateway then served one)
// belong to the default profile.
TEST_F(RenewalProfilesTest, RecordWithoutAProfileRenewsUnderTheDefaultProfileOnly) {
  UseProfiles({});
  Identity phone = Enroll("old-phone", "tid-e1");
  redis::CertificateRecord record = index_.Get(SerialOf(phone)).value().value();
  record.profile = "";
  ASSERT_TRUE(index_.Put(SerialOf(phone), record, absl::Hours(1)).ok());
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  EXPECT_EQ(Attributes(PostTo("servers", Message(phone, MessageType::kRenewalReq, "tid-e2",
                                                 Csr(new_key.get(), "old-phone", ""))))
                .fail_info,
            FailInfo::kBadRequest);
  codec::OpenedCertRep rep = Open(
      PostTo("byod", Message(phone, MessageType::kRenewalReq, "tid-e3",
                             Csr(new_key.get(), "old-phone", ""))),
      phone);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  EXPECT_EQ(signer_->issued.load(), 2);
}

// --renewal_reindex: a certificate the index lost names no profile. It is
// recorded again only under a profile that every profile of its CA renews
// under; otherwise badCertId, as without the flag.
TEST_F(RenewalProfilesTest, ReindexOnlyUnderAProfileEveryIssuerRenewsUnder) {
  options_.pki.renewal_reindex = true;
  UseProfiles({"byod"});
  Identity phone = Enroll("lost-phone", "tid-r1");
  index_.LoseEverything();
  crypto::EvpPkeyPtr new_key(EVP_RSA_gen(2048));
  // "byod" does not list "servers", which may have issued it.
  codec::ScepAttributes attrs =
      Attributes(PostTo("byod", Message(phone, MessageType::kRenewalReq, "tid-r2",
                                        Csr(new_key.get(), "lost-phone", ""))));
  EXPECT_EQ(attrs.fail_info, FailInfo::kBadCertId);
  EXPECT_FALSE(index_.Get(SerialOf(phone)).value().has_value());
  // "servers" lists every other profile of the CA.
  codec::OpenedCertRep rep =
      Open(PostTo("servers", Message(phone, MessageType::kRenewalReq, "tid-r3",
                                     Csr(new_key.get(), "lost-phone", ""))),
           phone);
  EXPECT_EQ(rep.message.attributes.pki_status, PkiStatus::kSuccess)
      << rep.message.attributes.fail_info_text.value_or("");
  std::optional<redis::CertificateRecord> record = index_.Get(SerialOf(phone)).value();
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->profile, "servers");
  EXPECT_EQ(signer_->issued.load(), 2);

  // Listing nothing, neither profile re-indexes.
  UseProfiles({});
  index_.LoseEverything();
  for (const char* profile : {"byod", "servers"}) {
    attrs = Attributes(PostTo(profile, Message(phone, MessageType::kRenewalReq,
                                               absl::StrCat("tid-r4-", profile),
                                               Csr(new_key.get(), "lost-phone", ""))));
    EXPECT_EQ(attrs.fail_info, FailInfo::kBadCertId) << profile;
  }
  EXPECT_FALSE(index_.Get(SerialOf(phone)).value().has_value());
  EXPECT_EQ(signer_->issued.load(), 2);
}

}  // namespace
}  // namespace scep::gateway
