#ifndef SCEP_COMMON_REDIS_ENROLLMENT_STORE_CONTRACT_TEST_H_
#define SCEP_COMMON_REDIS_ENROLLMENT_STORE_CONTRACT_TEST_H_

// Behaviour every EnrollmentStore must show, run against each
// implementation: a test binary instantiates EnrollmentStoreContractTest
// with a factory for its store (see INSTANTIATE_TEST_SUITE_P in
// memory_enrollment_store_test.cc and redis_enrollment_store_test.cc).

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/redis/enrollment_store.h"
#include "gtest/gtest.h"

namespace scep::redis {

// A store under test and a way to let its TTLs run.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  virtual EnrollmentStore& store() = 0;
  // Lets at least `elapsed` pass as far as the store's TTLs are concerned.
  virtual void Advance(absl::Duration elapsed) = 0;
};

struct StoreHarnessFactory {
  std::string name;
  // nullptr means "cannot run here" (e.g. no redis-server): the test skips.
  // A factory that must not skip records a failure with ADD_FAILURE first.
  std::function<std::unique_ptr<StoreHarness>()> make;

  friend void PrintTo(const StoreHarnessFactory& factory, std::ostream* os) {
    *os << factory.name;
  }
};

class EnrollmentStoreContractTest
    : public testing::TestWithParam<StoreHarnessFactory> {
 protected:
  void SetUp() override;
  EnrollmentStore& store() { return harness_->store(); }
  void Advance(absl::Duration elapsed) { harness_->Advance(elapsed); }

  std::unique_ptr<StoreHarness> harness_;
};

// Values and helpers the contract's test files share
// (enrollment_store_*contract_test.cc).
namespace contract {

inline constexpr absl::string_view kProfile = "devices";
inline constexpr absl::Duration kLong = absl::Minutes(5);
// Long enough that a call made right after a write still sees it on a real
// server, short enough to wait out in real time.
inline constexpr absl::Duration kShort = absl::Milliseconds(300);
inline constexpr absl::Duration kPastShort = absl::Milliseconds(450);

inline const std::string kNonce("\x01\x00\x02\xff nonce-16-bytes", 16);
// Digests of two messages (binary-safe).
inline const std::string kMessage("\x9a\x00message-one", 13);
inline const std::string kOtherMessage("\x9a\x00message-two", 13);
inline const std::string kTid =
    "4F3C2B1A0E9D8C7B6A5F4E3D2C1B0A99887766554433221100FFEEDDCCBBAA";
inline const std::string kCert("\x30\x82\x01\0\0\0cert\0der", 14);

// The calls' values; a failed call is recorded as a test failure.
NonceUse Record(EnrollmentStore& store, absl::string_view profile,
                absl::string_view nonce, absl::Duration ttl,
                absl::string_view message = kMessage);
Transaction Claim(EnrollmentStore& store, absl::string_view profile,
                  absl::string_view tid, absl::string_view fingerprint,
                  absl::Duration ttl);

}  // namespace contract
}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_ENROLLMENT_STORE_CONTRACT_TEST_H_
