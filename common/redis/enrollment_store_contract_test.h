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

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_ENROLLMENT_STORE_CONTRACT_TEST_H_
