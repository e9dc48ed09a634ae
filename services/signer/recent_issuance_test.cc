#include "services/signer/recent_issuance.h"

#include "gtest/gtest.h"

namespace scep::signer {
namespace {

TEST(RecentIssuanceTest, RemembersByKeyForALimitedTimeAndCount) {
  RecentIssuance recent(/*max_entries=*/2, absl::Minutes(10));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  const std::string a = RecentIssuance::Key({"ca", "csr-a", "policy"});
  const std::string b = RecentIssuance::Key({"ca", "csr-b", "policy"});
  EXPECT_FALSE(recent.Find(a, t0).has_value());
  recent.Remember(a, "cert-a", t0);
  EXPECT_EQ(recent.Find(a, t0 + absl::Minutes(9)).value_or(""), "cert-a");
  // The first certificate stays: a second one for the same key is ignored.
  recent.Remember(a, "cert-a2", t0);
  EXPECT_EQ(recent.Find(a, t0).value_or(""), "cert-a");
  EXPECT_FALSE(recent.Find(b, t0).has_value());
  EXPECT_FALSE(recent.Find(a, t0 + absl::Minutes(11)).has_value());
  // Bounded: the oldest goes first.
  recent.Remember(a, "1", t0);
  recent.Remember(b, "2", t0);
  recent.Remember(RecentIssuance::Key({"c"}), "3", t0);
  EXPECT_FALSE(recent.Find(a, t0).has_value());
  EXPECT_TRUE(recent.Find(b, t0).has_value());
}

TEST(RecentIssuanceTest, KeysSeparateTheirParts) {
  EXPECT_NE(RecentIssuance::Key({"ab", "c"}), RecentIssuance::Key({"a", "bc"}));
  EXPECT_EQ(RecentIssuance::Key({"a", "b"}), RecentIssuance::Key({"a", "b"}));
}

}  // namespace
}  // namespace scep::signer
