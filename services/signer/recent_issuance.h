#ifndef SCEP_SERVICES_SIGNER_RECENT_ISSUANCE_H_
#define SCEP_SERVICES_SIGNER_RECENT_ISSUANCE_H_

#include <cstddef>
#include <initializer_list>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scep::signer {

// Certificates issued in the last few minutes, by a digest of what was
// asked (transactionID, CA, CSR and policy). When a gateway gave up on a
// call (deadline, stalled signer) after the CA had signed, the device's
// retry of that transaction asks for the same certificate again;
// answering it from here keeps one certificate per transaction instead of
// an orphan signature plus a second one. A new transaction is a new key.
// Bounded in entries and age; thread-safe.
class RecentIssuance {
 public:
  explicit RecentIssuance(size_t max_entries = 10000,
                          absl::Duration max_age = absl::Minutes(10))
      : max_entries_(max_entries), max_age_(max_age) {}

  // The digest of a request: SHA-256 over `parts`, each length-prefixed.
  static std::string Key(std::initializer_list<absl::string_view> parts);

  // The DER certificate issued for `key`, if still remembered.
  std::optional<std::string> Find(const std::string& key, absl::Time now = absl::Now());
  void Remember(const std::string& key, std::string certificate_der,
                absl::Time now = absl::Now());

 private:
  void ExpireLocked(absl::Time now);

  const size_t max_entries_;
  const absl::Duration max_age_;
  std::mutex mu_;
  std::map<std::string, std::string> by_key_;
  std::deque<std::pair<absl::Time, std::string>> order_;  // oldest first
};

}  // namespace scep::signer

#endif  // SCEP_SERVICES_SIGNER_RECENT_ISSUANCE_H_
