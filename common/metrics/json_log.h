#ifndef SCEP_COMMON_METRICS_JSON_LOG_H_
#define SCEP_COMMON_METRICS_JSON_LOG_H_

// Structured logs: one JSON object per line, written whole under a lock so
// lines from concurrent threads never interleave. Log shippers (Fluent Bit,
// Vector, Loki) parse each line without configuration.

#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scep::metrics {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error".
absl::string_view LogLevelName(LogLevel level);

// Parses a LogLevelName(); false when `text` is not one.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

// Appends `value` to `out` as the inside of a JSON string (RFC 8259 section
// 7): quote, backslash and control characters are escaped; bytes that are
// not well-formed UTF-8 become U+FFFD, so client-chosen binary values (a
// transactionID) always yield valid JSON.
void AppendJsonEscaped(absl::string_view value, std::string* out);

// One log line under construction. Keys must be trusted identifiers (they
// are escaped all the same); values are escaped. String values longer than
// kMaxValueBytes are cut there and marked with "...". Callers must never add
// secrets (challenge, PIN, keys).
class LogRecord {
 public:
  static constexpr size_t kMaxValueBytes = 256;

  // `event` names what happened ("request", "start", "shutdown", ...).
  LogRecord(LogLevel level, absl::string_view event);

  LogRecord& Str(absl::string_view key, absl::string_view value);
  // A value of our own making whose length is bounded elsewhere (a
  // certificate in base64 for the audit trail): never cut.
  LogRecord& WholeStr(absl::string_view key, absl::string_view value);
  LogRecord& Int(absl::string_view key, int64_t value);
  LogRecord& Num(absl::string_view key, double value);
  LogRecord& Bool(absl::string_view key, bool value);

  LogLevel level() const { return level_; }

  // {"ts":"<RFC 3339 UTC, ms>","level":"info","event":"...",<fields>}
  std::string ToJson(absl::Time now) const;

 private:
  void Key(absl::string_view key);

  const LogLevel level_;
  std::string event_;
  std::string fields_;  // ",\"k\":v" for each field, in order
};

// Writes LogRecords at or above a minimum level to a stream. Thread-safe.
class JsonLogger {
 public:
  // `out` is not owned and must outlive the logger.
  explicit JsonLogger(std::ostream* out, LogLevel min_level = LogLevel::kInfo,
                      std::function<absl::Time()> clock = absl::Now);

  // Writes one line and flushes, so nothing is lost on a crash or kill.
  void Log(const LogRecord& record);

  bool Enabled(LogLevel level) const { return level >= min_level_; }

 private:
  std::ostream* const out_;
  const LogLevel min_level_;
  const std::function<absl::Time()> clock_;
  std::mutex mu_;
};

}  // namespace scep::metrics

#endif  // SCEP_COMMON_METRICS_JSON_LOG_H_
