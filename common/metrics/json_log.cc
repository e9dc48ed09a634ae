#include "common/metrics/json_log.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace scep::metrics {
namespace {

constexpr char kReplacement[] = "\\ufffd";

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629
// table 3.7: no overlongs, no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto b = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i, unsigned char lo = 0x80,
                        unsigned char hi = 0xBF) {
    return i < s.size() && b(i) >= lo && b(i) <= hi;
  };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (text == LogLevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

void AppendJsonEscaped(absl::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < value.size()) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(value.substr(i));
      if (n == 0) {
        out->append(kReplacement);
        ++i;
      } else {
        out->append(value.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

LogRecord::LogRecord(LogLevel level, absl::string_view event)
    : level_(level), event_(event) {}

void LogRecord::Key(absl::string_view key) {
  fields_.append(",\"");
  AppendJsonEscaped(key, &fields_);
  fields_.append("\":");
}

LogRecord& LogRecord::Str(absl::string_view key, absl::string_view value) {
  Key(key);
  fields_.push_back('"');
  if (value.size() > kMaxValueBytes) {
    // A sequence cut in half becomes U+FFFD: still valid JSON.
    AppendJsonEscaped(value.substr(0, kMaxValueBytes), &fields_);
    fields_.append("...");
  } else {
    AppendJsonEscaped(value, &fields_);
  }
  fields_.push_back('"');
  return *this;
}

LogRecord& LogRecord::WholeStr(absl::string_view key, absl::string_view value) {
  Key(key);
  fields_.push_back('"');
  AppendJsonEscaped(value, &fields_);
  fields_.push_back('"');
  return *this;
}

LogRecord& LogRecord::Int(absl::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&fields_, value);
  return *this;
}

LogRecord& LogRecord::Num(absl::string_view key, double value) {
  Key(key);
  // JSON has no NaN or infinities.
  if (std::isfinite(value)) {
    absl::StrAppend(&fields_, value);
  } else {
    fields_.append("null");
  }
  return *this;
}

LogRecord& LogRecord::Bool(absl::string_view key, bool value) {
  Key(key);
  fields_.append(value ? "true" : "false");
  return *this;
}

std::string LogRecord::ToJson(absl::Time now) const {
  std::string out = absl::StrCat(
      "{\"ts\":\"",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
      "\",\"level\":\"", LogLevelName(level_), "\",\"event\":\"");
  AppendJsonEscaped(event_, &out);
  out.push_back('"');
  out.append(fields_);
  out.push_back('}');
  return out;
}

JsonLogger::JsonLogger(std::ostream* out, LogLevel min_level,
                       std::function<absl::Time()> clock)
    : out_(out), min_level_(min_level), clock_(std::move(clock)) {}

void JsonLogger::Log(const LogRecord& record) {
  if (!Enabled(record.level())) return;
  std::string line = record.ToJson(clock_());
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  out_->write(line.data(), static_cast<std::streamsize>(line.size()));
  out_->flush();
}

}  // namespace scep::metrics
