#include "services/gateway/http/query.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace scep::gateway {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(ParseQueryTest, ScepGetQuery) {
  absl::StatusOr<Params> params =
      ParseQuery("operation=PKIOperation&message=abc%3D%3D");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (Params{{"operation", "PKIOperation"},
                             {"message", "abc=="}}));
}

TEST(ParseQueryTest, PlusIsSpaceAndEncodedPlusIsPlus) {
  absl::StatusOr<Params> params = ParseQuery("a=x+y&b=x%2By&c%20d=1");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (Params{{"a", "x y"}, {"b", "x+y"}, {"c d", "1"}}));
}

TEST(ParseQueryTest, UnescapedEqualsInValueIsKept) {
  absl::StatusOr<Params> params = ParseQuery("message=ab==&x");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (Params{{"message", "ab=="}, {"x", ""}}));
}

TEST(ParseQueryTest, EmptySegmentsSkippedDuplicatesKept) {
  absl::StatusOr<Params> params = ParseQuery("&a=1&&a=2&");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*params, (Params{{"a", "1"}, {"a", "2"}}));
  params = ParseQuery("");
  ASSERT_TRUE(params.ok());
  EXPECT_TRUE(params->empty());
}

TEST(ParseQueryTest, MalformedEscapesAreInvalidArgument) {
  for (const char* bad : {"a=%zz", "a=%4", "a=%", "%g1=x", "a=1&b=%2"}) {
    EXPECT_EQ(ParseQuery(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(PercentDecodeTest, PlusHandlingDependsOnContext) {
  EXPECT_EQ(PercentDecode("a+b%2f%2F%00", true).value(),
            std::string("a b//\0", 6));
  EXPECT_EQ(PercentDecode("a+b", false).value(), "a+b");
}

}  // namespace
}  // namespace scep::gateway
