#ifndef SCEP_COMMON_REDIS_REQUEST_STORE_CONTRACT_TEST_H_
#define SCEP_COMMON_REDIS_REQUEST_STORE_CONTRACT_TEST_H_

// Behaviour every RequestStore and ChallengeStore must show, run against
// each implementation (memory_request_store_test.cc,
// redis_request_store_test.cc instantiate RequestStoreContractTest).

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "common/redis/request_store.h"
#include "gtest/gtest.h"

namespace scep::redis {

class RequestStoreHarness {
 public:
  virtual ~RequestStoreHarness() = default;
  virtual RequestStore& requests() = 0;
  virtual ChallengeStore& challenges() = 0;
  // Lets at least `elapsed` pass as far as the stores' TTLs and creation
  // times are concerned.
  virtual void Advance(absl::Duration elapsed) = 0;
};

struct RequestStoreHarnessFactory {
  std::string name;
  // nullptr: cannot run here (the test skips, or fails if it recorded a
  // failure first).
  std::function<std::unique_ptr<RequestStoreHarness>()> make;

  friend void PrintTo(const RequestStoreHarnessFactory& factory, std::ostream* os) {
    *os << factory.name;
  }
};

class RequestStoreContractTest
    : public testing::TestWithParam<RequestStoreHarnessFactory> {
 protected:
  void SetUp() override;
  RequestStore& requests() { return harness_->requests(); }
  ChallengeStore& challenges() { return harness_->challenges(); }
  void Advance(absl::Duration elapsed) { harness_->Advance(elapsed); }

  std::unique_ptr<RequestStoreHarness> harness_;
};

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REQUEST_STORE_CONTRACT_TEST_H_
