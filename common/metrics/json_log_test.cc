#include "common/metrics/json_log.h"

#include "common/metrics/startup_log.h"

#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace scep::metrics {
namespace {

std::string Escaped(absl::string_view s) {
  std::string out;
  AppendJsonEscaped(s, &out);
  return out;
}

TEST(JsonEscapeTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Escaped("plain text 123"), "plain text 123");
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("l1\nl2\r\t"), "l1\\nl2\\r\\t");
  EXPECT_EQ(Escaped(std::string("\x00\x01\x1f\x7f", 4)),
            "\\u0000\\u0001\\u001f\\u007f");
}

TEST(JsonEscapeTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Escaped("gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x94\x92"),
            "gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x94\x92");
  EXPECT_EQ(Escaped("\xFF"), "\\ufffd");
  EXPECT_EQ(Escaped("a\xC3"), "a\\ufffd");              // truncated sequence
  EXPECT_EQ(Escaped("\xC0\xAF"), "\\ufffd\\ufffd");     // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), "\\ufffd\\ufffd\\ufffd");  // surrogate
  EXPECT_EQ(Escaped("\xF4\x90\x80\x80"),
            "\\ufffd\\ufffd\\ufffd\\ufffd");  // above U+10FFFF
}

TEST(LogRecordTest, BuildsOneJsonObject) {
  LogRecord r(LogLevel::kWarning, "request");
  r.Str("transaction_id", "t\"1\n").Int("http_status", 503).Bool("ok", false)
      .Num("latency_ms", 1.5).Num("nan", 0.0 / 0.0);
  EXPECT_EQ(r.ToJson(absl::FromUnixMillis(1700000000123)),
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"warning\","
            "\"event\":\"request\",\"transaction_id\":\"t\\\"1\\n\","
            "\"http_status\":503,\"ok\":false,\"latency_ms\":1.5,"
            "\"nan\":null}");
}

TEST(LogRecordTest, CutsLongValues) {
  LogRecord r(LogLevel::kInfo, "e");
  r.Str("v", std::string(1000, 'x'));
  const std::string json = r.ToJson(absl::UnixEpoch());
  EXPECT_NE(json.find(std::string(LogRecord::kMaxValueBytes, 'x') + "...\""),
            std::string::npos);
  EXPECT_LT(json.size(), 400u);
  r.WholeStr("w", std::string(1000, 'y'));
  EXPECT_NE(r.ToJson(absl::UnixEpoch()).find("\"w\":\"" + std::string(1000, 'y') + "\"}"),
            std::string::npos);
}

TEST(JsonLoggerTest, WritesLinesAtOrAboveMinimumLevel) {
  std::ostringstream out;
  JsonLogger logger(&out, LogLevel::kInfo, [] { return absl::UnixEpoch(); });
  logger.Log(LogRecord(LogLevel::kDebug, "hidden"));
  logger.Log(LogRecord(LogLevel::kInfo, "shown"));
  logger.Log(LogRecord(LogLevel::kError, "bad"));
  EXPECT_EQ(out.str(),
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\","
            "\"event\":\"shown\"}\n"
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"error\","
            "\"event\":\"bad\"}\n");
}

TEST(LogLevelTest, ParsesNames) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(level, LogLevel::kError);
}

TEST(StartupLogTest, SecretFlagNamesAreRedacted) {
  EXPECT_TRUE(IsSecretFlagName("challenge"));
  EXPECT_TRUE(IsSecretFlagName("redis_password"));
  EXPECT_TRUE(IsSecretFlagName("hsm_pin"));
  EXPECT_FALSE(IsSecretFlagName("challenge_file"));
  EXPECT_FALSE(IsSecretFlagName("pin_file"));
  EXPECT_FALSE(IsSecretFlagName("http_port"));
  EXPECT_FALSE(IsSecretFlagName("signer_tls_key"));
}

}  // namespace
}  // namespace scep::metrics
