// The notifier's delivery rules (notifier.h) over the in-memory queue, with
// a poster that records what it was sent and answers as told.

#include "services/gateway/notifier.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/crypto/der.h"
#include "common/crypto/pem.h"
#include "gtest/gtest.h"
#include "services/gateway/in_process_signer.h"

namespace scep::gateway {
namespace {

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Profile p;
    p.name = "wifi";
    p.notice_url = "http://127.0.0.1:1/notify";
    p.notice_issued = p.notice_failed = true;
    Profile other = p;
    other.name = "vpn";
    other.notice_url = "http://127.0.0.1:2/notify";
    profiles_ = ProfileSet::New({p, other}).value();
    options_.worker = "test";
    options_.retry_after = absl::Hours(1);
  }

  std::unique_ptr<Notifier> Make() {
    return std::make_unique<Notifier>(
        options_, &outbox_, profiles_.get(),
        [this](const Profile& profile, const std::string& json) -> absl::StatusOr<int> {
          sent_.push_back({profile.name, json});
          if (answers_.empty()) return 200;
          absl::StatusOr<int> answer = answers_.front();
          answers_.pop_front();
          return answer;
        },
        nullptr, nullptr);
  }

  static redis::Notice Failed(const std::string& profile, const std::string& tid) {
    redis::Notice n;
    n.event = redis::Notice::Event::kFailed;
    n.profile = profile;
    n.transaction_id = tid;
    n.message_type = "PKCSReq";
    n.csr = "csr-der";
    n.fail_info = "badRequest";
    n.fail_info_text = "challenge \"refused\"";
    n.time = absl::FromUnixSeconds(1700000000);
    return n;
  }

  int64_t Queued() { return outbox_.Stats().value().queued; }

  std::unique_ptr<ProfileSet> profiles_;
  NotifierOptions options_;
  redis::MemoryNoticeOutbox outbox_;
  std::vector<std::pair<std::string, std::string>> sent_;
  std::deque<absl::StatusOr<int>> answers_;
};

TEST_F(NotifierTest, IssuedNoticeCarriesWhatAnMdmReportsTheCertificateBy) {
  const std::string pem = testing::ReadTestdata("ca.pem");
  crypto::X509Ptr cert = crypto::LoadCertificateFile(testing::Testdata("ca.pem")).value();
  const std::string der = crypto::ToDer(cert.get(), i2d_X509).value();
  redis::QueuedNotice q;
  q.id = "1700000000000-0";
  q.notice.event = redis::Notice::Event::kIssued;
  q.notice.profile = "wifi";
  q.notice.transaction_id = "tid-1";
  q.notice.message_type = "RenewalReq";
  q.notice.csr = "csr";
  q.notice.certificate = der;
  q.notice.time = absl::FromUnixSeconds(1700000000);
  const std::string json = NoticeJson(q).value();

  unsigned char sha1[20];
  SHA1(reinterpret_cast<const unsigned char*>(der.data()), der.size(), sha1);
  const std::string thumbprint = absl::AsciiStrToUpper(
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(sha1), 20)));
  EXPECT_TRUE(absl::StrContains(json, "\"event\":\"issued\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"notice_id\":\"1700000000000-0\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"message_type\":\"RenewalReq\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"time\":\"2023-11-14T22:13:20Z\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, absl::StrCat("\"thumbprint_sha1\":\"", thumbprint, "\"")))
      << json;
  EXPECT_TRUE(absl::StrContains(
      json, absl::StrCat("\"certificate\":\"", absl::Base64Escape(der), "\"")));
  EXPECT_TRUE(absl::StrContains(json, "\"serial\":\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"not_after\":\"")) << json;

  q.notice.certificate = "not a certificate";
  EXPECT_FALSE(NoticeJson(q).ok());
}

// A terminating gateway finishes the notice being delivered, not the rest
// of its round (each up to its receiver's timeout): those stay taken, for
// other gateways once retry_after has passed.
TEST_F(NotifierTest, StopLeavesTheRestOfTheRoundTaken) {
  for (const char* tid : {"a", "b", "c"}) ASSERT_TRUE(outbox_.Add(Failed("wifi", tid)).ok());
  int posted = 0;
  Notifier* self = nullptr;
  auto notifier = std::make_unique<Notifier>(
      options_, &outbox_, profiles_.get(),
      [&](const Profile&, const std::string&) -> absl::StatusOr<int> {
        ++posted;
        self->RequestStop();  // SIGTERM while the first is being delivered
        return 200;
      },
      nullptr, nullptr);
  self = notifier.get();
  EXPECT_EQ(notifier->RunOnce().value(), 3u);  // took three
  EXPECT_EQ(posted, 1);
  EXPECT_EQ(Queued(), 2);  // the delivered one left the queue
}

TEST_F(NotifierTest, FailedNoticeIsValidJsonWithItsFailInfo) {
  redis::QueuedNotice q;
  q.id = "7";
  q.notice = Failed("wifi", "tid\n2");
  const std::string json = NoticeJson(q).value();
  EXPECT_TRUE(absl::StrContains(json, "\"fail_info\":\"badRequest\"")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"fail_info_text\":\"challenge \\\"refused\\\"\""))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "\"transaction_id\":\"tid\\u000a2\"")) << json;
  EXPECT_FALSE(absl::StrContains(json, "certificate")) << json;
}

TEST_F(NotifierTest, DeliveredNoticesLeaveTheQueue) {
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "a")).ok());
  ASSERT_TRUE(outbox_.Add(Failed("vpn", "b")).ok());
  auto notifier = Make();
  EXPECT_EQ(notifier->RunOnce().value(), 2u);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].first, "wifi");
  EXPECT_EQ(sent_[1].first, "vpn");
  EXPECT_EQ(Queued(), 0);
}

TEST_F(NotifierTest, AFailedDeliveryIsRetriedAfterRetryAfterAndItsUrlRests) {
  options_.retry_after = absl::Milliseconds(200);
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "a")).ok());
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "b")).ok());
  ASSERT_TRUE(outbox_.Add(Failed("vpn", "c")).ok());
  answers_ = {503};
  auto notifier = Make();
  EXPECT_EQ(notifier->RunOnce().value(), 3u);
  // "a" failed; "b" (same URL) was not tried; "c" (another URL) was.
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].first, "vpn");
  EXPECT_EQ(Queued(), 2);
  // Before retry_after nothing is taken again.
  EXPECT_EQ(notifier->RunOnce().value(), 0u);
  absl::SleepFor(absl::Milliseconds(250));
  EXPECT_EQ(notifier->RunOnce().value(), 2u);
  EXPECT_EQ(sent_.size(), 4u);
  EXPECT_EQ(Queued(), 0);
}

// Two profiles POST to one URL with their own TLS settings (or keys): one
// failing does not hold the other's notices back.
TEST_F(NotifierTest, AUrlRestsOnlyForTheProfileThatFailedThere) {
  Profile wifi = profiles_->All()[0];
  Profile vpn = profiles_->All()[1];
  vpn.notice_url = wifi.notice_url;
  profiles_ = ProfileSet::New({wifi, vpn}).value();
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "a")).ok());
  ASSERT_TRUE(outbox_.Add(Failed("vpn", "b")).ok());
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "c")).ok());
  answers_ = {absl::UnavailableError("notice receiver TLS handshake failed")};
  auto notifier = Make();
  EXPECT_EQ(notifier->RunOnce().value(), 3u);
  // "a" failed; "b" (the same URL, another profile) delivered; "c" rests.
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[1].first, "vpn");
  EXPECT_EQ(Queued(), 2);
}

TEST_F(NotifierTest, UnreachableReceiverIsRetriedToo) {
  options_.retry_after = absl::Milliseconds(1);
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "a")).ok());
  answers_ = {absl::UnavailableError("notice receiver timed out"), 429, 408};
  auto notifier = Make();
  for (int round = 0; round < 3; ++round) {
    (void)notifier->RunOnce();
    EXPECT_EQ(Queued(), 1) << "round " << round;
    absl::SleepFor(absl::Milliseconds(5));
  }
  (void)notifier->RunOnce();
  EXPECT_EQ(Queued(), 0);
  EXPECT_EQ(sent_.size(), 4u);
}

TEST_F(NotifierTest, ARefusedNoticeAndAnOldNoticeAreGivenUp) {
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "refused")).ok());
  answers_ = {400};
  auto notifier = Make();
  EXPECT_EQ(notifier->RunOnce().value(), 1u);
  EXPECT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Queued(), 0);

  options_.max_age = absl::Milliseconds(1);
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "old")).ok());
  absl::SleepFor(absl::Milliseconds(5));
  auto strict = Make();
  EXPECT_EQ(strict->RunOnce().value(), 1u);
  EXPECT_EQ(sent_.size(), 1u);
  EXPECT_EQ(Queued(), 0);

  // Both kept on the given-up list, newest first, with why.
  auto given_up = outbox_.GivenUp("", 10);
  ASSERT_TRUE(given_up.ok());
  ASSERT_EQ(given_up->size(), 2u);
  EXPECT_EQ((*given_up)[0].notice.transaction_id, "old");
  EXPECT_EQ((*given_up)[0].result, "expired");
  EXPECT_EQ((*given_up)[1].notice.transaction_id, "refused");
  EXPECT_EQ((*given_up)[1].result, "refused");
  EXPECT_EQ((*given_up)[1].reason, "receiver answered HTTP 400");
  // Queued again (the receiver fixed), the refused one is delivered.
  options_.max_age = absl::Hours(1);
  ASSERT_EQ(outbox_.Requeue({(*given_up)[1].id}).value(), 1u);
  auto fixed = Make();
  EXPECT_EQ(fixed->RunOnce().value(), 1u);
  ASSERT_EQ(sent_.size(), 2u);
  // The same notice_id as when it was refused: receivers deduplicate by it.
  auto notice_id = [](const std::string& json) {
    const size_t at = json.find("\"notice_id\":\"");
    return at == std::string::npos ? std::string() : json.substr(at, json.find(',', at) - at);
  };
  EXPECT_FALSE(notice_id(sent_[0].second).empty());
  EXPECT_EQ(notice_id(sent_[1].second), notice_id(sent_[0].second));
  EXPECT_EQ(Queued(), 0);
  EXPECT_EQ(outbox_.GivenUp("", 10)->size(), 1u);
}

// A rolling update: a gateway that does not (yet) serve a notice's profile
// leaves it for one that does; only max_age gives it up.
TEST_F(NotifierTest, ANoticeOfAProfileNotServedHereIsLeftForAnotherGateway) {
  ASSERT_TRUE(outbox_.Add(Failed("gone", "elsewhere")).ok());
  options_.retry_after = absl::Milliseconds(1);
  auto notifier = Make();
  EXPECT_EQ(notifier->RunOnce().value(), 1u);
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(Queued(), 1);
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(notifier->RunOnce().value(), 1u);  // taken again, left again
  EXPECT_EQ(Queued(), 1);

  options_.max_age = absl::Milliseconds(1);
  auto strict = Make();
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(strict->RunOnce().value(), 1u);
  EXPECT_EQ(Queued(), 0);
  EXPECT_TRUE(sent_.empty());
}

TEST_F(NotifierTest, TheQueueDropsAndCountsPastItsBound) {
  redis::MemoryNoticeOutbox small(1);
  ASSERT_TRUE(small.Add(Failed("wifi", "a")).ok());
  ASSERT_TRUE(small.Add(Failed("wifi", "b")).ok());
  redis::OutboxStats stats = small.Stats().value();
  EXPECT_EQ(stats.queued, 1);
  EXPECT_EQ(stats.dropped, 1);
}

TEST_F(NotifierTest, StartAndStopDeliverInTheBackground) {
  options_.idle_poll = absl::Milliseconds(10);
  auto notifier = Make();
  notifier->Start();
  ASSERT_TRUE(outbox_.Add(Failed("wifi", "a")).ok());
  for (int i = 0; i < 200 && Queued() != 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  notifier->Stop();
  EXPECT_EQ(Queued(), 0);
  EXPECT_EQ(sent_.size(), 1u);
}

// RFC 4231 test case 2, in the header's form.
TEST(NoticeSignatureTest, IsHmacSha256InHex) {
  EXPECT_EQ(NoticeSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(NoticeSignature("Jefe", "what do ya want for nothing!"),
            NoticeSignature("Jefe", "what do ya want for nothing?"));
}

}  // namespace
}  // namespace scep::gateway
