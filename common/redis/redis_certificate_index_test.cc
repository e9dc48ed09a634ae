// RedisCertificateIndex against a real redis-server of each test's own:
// how its scripts run (by digest, with Redis full), the revocation entries
// of every format so far, old cached CRLs, and two CAs sharing one Redis.
// The contract both indexes share: certificate_index_test.cc.

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/redis/redis_certificate_index.h"
#include "common/redis/redis_connection_pool.h"
#include "common/redis/redis_index_page.h"
#include "common/redis/redis_test_server.h"
#include "common/redis/redis_test_start.h"
#include "gtest/gtest.h"

namespace scep::redis {
namespace {

class RealRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartRedis(&server_);
    if (server_ != nullptr) options_.port = server_->port();
  }

  std::unique_ptr<RedisTestServer> server_;
  RedisOptions options_;
};

class RedisCertificateIndexScriptTest : public RealRedisTest {};
class RedisCertificateIndexCaTest : public RealRedisTest {};

// The per-certificate Put is sent by digest (EVALSHA), not with the script
// body every time, and still works after the server lost its script cache.
TEST_F(RedisCertificateIndexScriptTest, PutRunsByDigestAndSurvivesAScriptFlush) {
  auto index = RedisCertificateIndex::New(options_).value();
  auto calls = [&](const std::string& command) -> int {
    std::string stats = server_->Command({"INFO", "commandstats"}).value_or("");
    const std::string tag = "cmdstat_" + command + ":calls=";
    size_t at = stats.find(tag);
    return at == std::string::npos ? 0 : std::atoi(stats.c_str() + at + tag.size());
  };
  CertificateRecord record{"der", "default", ""};
  for (const char* serial : {"01", "02", "03"}) {
    ASSERT_TRUE(index->Put(serial, record, absl::Hours(1)).ok());
  }
  // The first Put loads the script (EVALSHA misses, EVAL); the others hit.
  EXPECT_EQ(calls("eval"), 1);
  EXPECT_EQ(calls("evalsha"), 3);
  ASSERT_EQ(server_->Command({"SCRIPT", "FLUSH"}).value_or(""), "OK");
  ASSERT_TRUE(index->Put("04", record, absl::Hours(1)).ok());
  EXPECT_EQ(calls("eval"), 2);
  EXPECT_EQ(index->Get("04").value()->certificate, "der");
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs"}).value_or(""), "4");
}

// Expired certificates leave the listings even behind a long-lived one:
// they used to be dropped only from the listing's head, so one certificate
// valid for years kept every shorter-lived one recorded after it, from
// every profile (a million dead members a month for a 30-day Wi-Fi fleet).
TEST_F(RedisCertificateIndexScriptTest, ExpiredCertificatesLeaveTheListingsBehindALongLivedOne) {
  auto index = RedisCertificateIndex::New(options_).value();
  ASSERT_TRUE(index->Put("0100", {"der", "vpn", ""}, absl::Hours(24 * 800)).ok());
  for (int i = 0; i < 50; ++i) {
    const std::string serial = absl::StrCat("02", absl::Hex(i, absl::kZeroPad2));
    ASSERT_TRUE(index->Put(serial, {"der", "wifi", ""}, absl::Milliseconds(1)).ok());
  }
  ASSERT_EQ(server_->Command({"ZCARD", "scep:certs"}).value_or(""), "51");
  absl::SleepFor(absl::Milliseconds(1100));  // expired for a second
  ASSERT_TRUE(index->Put("0300", {"der", "wifi", ""}, absl::Hours(1)).ok());
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs"}).value_or(""), "2");
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs:wifi"}).value_or(""), "1");
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs-expiry"}).value_or(""), "2");
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs:vpn"}).value_or(""), "1");
  // Every live certificate is still listed.
  EXPECT_NE(server_->Command({"ZRANK", "scep:certs", "0300"}).value_or(""), "");
  EXPECT_NE(server_->Command({"ZRANK", "scep:certs", "0100"}).value_or(""), "");
}

// A page that ends on a member gone before the next page is read (its
// record expired and a Put dropped it) goes on after where that member
// stood. It went on after every member with the same millisecond score,
// so a burst recorded within one millisecond was skipped from listings.
TEST_F(RedisCertificateIndexScriptTest, APageGoesOnAfterItsLastMemberIsGone) {
  auto pool = RedisConnectionPool::New(options_).value();
  for (int i = 1; i <= 10; ++i) {
    const std::string member = absl::StrCat("m", absl::Dec(i, absl::kZeroPad2));
    ASSERT_TRUE(server_->Command({"ZADD", "idx", "1000", member}).ok());
    ASSERT_TRUE(server_->Command({"HSET", "h:" + member, "f", "v"}).ok());
  }
  IndexPageQuery query{"idx", "h:", "", "", "", 2};
  absl::StatusOr<IndexPage> first = ReadIndexPage(*pool, "Test", query);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->entries.size(), 2u);
  EXPECT_EQ(first->entries[1].member, "m02");
  ASSERT_TRUE(server_->Command({"DEL", "h:m02"}).ok());
  ASSERT_TRUE(server_->Command({"ZREM", "idx", "m02"}).ok());

  std::vector<std::string> rest;
  query.page_token = first->next_page_token;
  while (!query.page_token.empty()) {
    absl::StatusOr<IndexPage> page = ReadIndexPage(*pool, "Test", query);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const IndexPageEntry& entry : page->entries) rest.push_back(entry.member);
    query.page_token = page->next_page_token;
  }
  EXPECT_EQ(rest, (std::vector<std::string>{"m03", "m04", "m05", "m06", "m07", "m08",
                                            "m09", "m10"}));
}

// Redis full (maxmemory under noeviction) refuses the Put of a
// certificate already signed with OOM: it is kept, and applied before
// anything else once there is room (it was lost before session 16: the
// certificate never reached the index).
TEST_F(RedisCertificateIndexScriptTest, PutRefusedWhileRedisIsFullIsKeptAndApplied) {
  auto index = RedisCertificateIndex::New(options_).value();
  CertificateRecord record{"der", "default", ""};
  ASSERT_TRUE(index->Put("01", record, absl::Hours(1)).ok());
  ASSERT_TRUE(server_->Command({"CONFIG", "SET", "maxmemory", "1"}).ok());
  const absl::Status refused = index->Put("02", record, absl::Hours(1));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("OOM"), absl::string_view::npos) << refused;
  EXPECT_NE(refused.message().find("kept"), absl::string_view::npos) << refused;
  // Nothing overtakes the kept write.
  EXPECT_EQ(index->Get("01").status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(server_->Command({"CONFIG", "SET", "maxmemory", "0"}).ok());
  absl::StatusOr<std::optional<CertificateRecord>> got = index->Get("02");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->certificate, "der");
  EXPECT_EQ(server_->Command({"ZCARD", "scep:certs"}).value_or(""), "2");
}

// Revocations recorded by every format so far read back: "time:reason"
// (default CA), "time:reason:ca", and since session 16 with the notAfter.
TEST_F(RedisCertificateIndexScriptTest, RevocationEntriesOfEveryFormatAreRead) {
  for (const auto& [serial, entry] : std::vector<std::pair<std::string, std::string>>{
           {"01", "1800000000:1"}, {"02", "1800000000:4:wifi"},
           {"03", "1800000000:0::1900000000"}, {"04", "1800000000:5:wifi:1900000000"}}) {
    ASSERT_TRUE(server_->Command({"HSET", "scep:revoked", serial, entry}).ok());
  }
  auto main_ca = RedisCertificateIndex::New(options_).value();
  auto revoked = main_ca->ListRevoked();
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->size(), 2u);
  std::map<std::string, RevokedSerial> by_serial;
  for (const RevokedSerial& r : *revoked) by_serial[r.serial_hex] = r;
  EXPECT_EQ(by_serial["01"].not_after, absl::InfiniteFuture());
  EXPECT_EQ(by_serial["03"].not_after, absl::FromUnixSeconds(1'900'000'000));
  EXPECT_EQ(by_serial["03"].reason, 0);
  auto wifi = RedisCertificateIndex::New(options_, "wifi").value();
  revoked = wifi->ListRevoked();
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(revoked->size(), 2u);
  // Any CA's entry, by serial.
  EXPECT_EQ(main_ca->GetRevoked("04").value()->not_after, absl::FromUnixSeconds(1'900'000'000));
  ASSERT_TRUE(server_->Command({"HSET", "scep:revoked", "05", "1:2:x:y:z"}).ok());
  EXPECT_EQ(main_ca->ListRevoked().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(main_ca->GetRevoked("05").status().code(), absl::StatusCode::kDataLoss);
}

// A CRL cached by a gateway from before session 17 (no cRLNumber field)
// reads as number 0 and is replaced by the next one signed.
TEST_F(RedisCertificateIndexScriptTest, CrlCachedWithoutANumberIsReplaced) {
  ASSERT_TRUE(server_->Command({"HSET", "scep:crl:cache", "gen", "4", "der", "old-crl",
                                "next_update", "1900000000", "this_update", "1800000000"})
                  .ok());
  auto index = RedisCertificateIndex::New(options_).value();
  auto cached = index->GetCachedCrl().value();
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->der, "old-crl");
  EXPECT_EQ(cached->number, 0u);
  EXPECT_EQ(cached->this_update, absl::FromUnixSeconds(1'800'000'000));
  EXPECT_TRUE(index->PutCachedCrl({4, "new-crl", absl::FromUnixSeconds(1'900'000'001),
                                   absl::FromUnixSeconds(1'800'000'001), 3})
                  .value());
  EXPECT_EQ(index->GetCachedCrl().value()->der, "new-crl");
  EXPECT_EQ(server_->Command({"HGET", "scep:crl:cache", "number"}).value_or(""), "3");
}

// Two issuing CAs share Redis: one serial space, one CRL view each.
TEST_F(RedisCertificateIndexCaTest, EachCaSeesItsOwnRevocationsAndCrl) {
  auto main_ca = RedisCertificateIndex::New(options_).value();
  auto wifi = RedisCertificateIndex::New(options_, "wifi").value();
  CertificateRecord a{"der-a", "default", ""};
  CertificateRecord b{"der-b", "wifi-devices", "wifi"};
  ASSERT_TRUE(main_ca->Put("0a", a, absl::Hours(1)).ok());
  ASSERT_TRUE(wifi->Put("0b", b, absl::Hours(1)).ok());
  // Any view finds any certificate and names its CA.
  EXPECT_EQ(main_ca->Get("0b").value()->issuing_ca, "wifi");
  EXPECT_EQ(wifi->Get("0a").value()->issuing_ca, "");
  // Revocation through either view lands in the certificate's own CA.
  ASSERT_TRUE(main_ca->Revoke("0b", 1, absl::FromUnixSeconds(1'800'000'000)).ok());
  ASSERT_TRUE(wifi->Revoke("0a", 4, absl::FromUnixSeconds(1'800'000'001)).ok());
  auto main_revoked = main_ca->ListRevoked().value();
  auto wifi_revoked = wifi->ListRevoked().value();
  ASSERT_EQ(main_revoked.size(), 1u);
  EXPECT_EQ(main_revoked[0].serial_hex, "0a");
  EXPECT_EQ(main_revoked[0].reason, 4);
  ASSERT_EQ(wifi_revoked.size(), 1u);
  EXPECT_EQ(wifi_revoked[0].serial_hex, "0b");
  EXPECT_EQ(wifi_revoked[0].reason, 1);
  EXPECT_EQ(wifi_revoked[0].revoked_at, absl::FromUnixSeconds(1'800'000'000));
  // Separate CRL caches.
  ASSERT_TRUE(wifi->PutCachedCrl({2, "wifi-crl", absl::FromUnixSeconds(1)}).ok());
  EXPECT_FALSE(main_ca->GetCachedCrl().value().has_value());
  EXPECT_EQ(wifi->GetCachedCrl().value()->der, "wifi-crl");
  auto listed = main_ca->List("", std::nullopt, "", 10).value();
  ASSERT_EQ(listed.certificates.size(), 2u);
  EXPECT_EQ(listed.certificates[1].record.issuing_ca, "wifi");
}

// After a CA rollover a previous CA key's CRL is cached apart from the
// current key's, over the same revocations, numbered from the same counter
// (so each key's numbers only go up).
TEST_F(RedisCertificateIndexCaTest, APreviousCaKeyHasItsOwnCachedCrl) {
  auto current = RedisCertificateIndex::New(options_).value();
  auto previous = RedisCertificateIndex::New(options_, "", "0a1b2c").value();
  CertificateRecord a{"der-a", "default", ""};
  ASSERT_TRUE(current->Put("0a", a, absl::Hours(1)).ok());
  ASSERT_TRUE(current->Revoke("0a", 1, absl::FromUnixSeconds(1'800'000'000)).ok());
  ASSERT_EQ(previous->ListRevoked().value().size(), 1u);
  EXPECT_EQ(previous->GetCrlState().value().generation,
            current->GetCrlState().value().generation);
  const uint64_t first = current->NextCrlNumber().value();
  ASSERT_TRUE(current->PutCachedCrl({1, "new-key-crl", absl::FromUnixSeconds(1), {}, first})
                  .value());
  const uint64_t second = previous->NextCrlNumber().value();
  EXPECT_GT(second, first);
  EXPECT_FALSE(previous->GetCachedCrl().value().has_value());
  ASSERT_TRUE(previous->PutCachedCrl({1, "old-key-crl", absl::FromUnixSeconds(1), {}, second})
                  .value());
  EXPECT_EQ(current->GetCachedCrl().value()->der, "new-key-crl");
  EXPECT_EQ(previous->GetCachedCrl().value()->der, "old-key-crl");
  EXPECT_EQ(previous->GetCrlState().value().cached_number, second);
  EXPECT_EQ(server_->Command({"HGET", "scep:crl:cache:key:0a1b2c", "der"}).value_or(""),
            "old-key-crl");
}

}  // namespace
}  // namespace scep::redis
