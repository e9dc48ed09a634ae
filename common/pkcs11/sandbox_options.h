#ifndef SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_
#define SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_

// Tests only: provisioning options for a SoftHsmSandbox token.

#include <memory>
#include <string>

#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11 {

inline constexpr char kSandboxUserPin[] = "246810";
inline constexpr char kSandboxSoPin[] = "13579";

// Token "scep-dev" of the SoftHSMv2 module the tests were built against,
// with the sandbox PINs; keys and subjects at their defaults.
inline ProvisionOptions SandboxProvisionOptions() {
  ProvisionOptions options;
  options.module_path = SCEP_SOFTHSM2_MODULE;
  options.token_label = "scep-dev";
  options.user_pin = kSandboxUserPin;
  options.so_pin = kSandboxSoPin;
  return options;
}

// A fixture with a fresh SoftHSMv2 sandbox, SandboxProvisionOptions() and
// an output directory <sandbox>/pki for the PEM files.
class SandboxTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> sandbox = SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    options_ = SandboxProvisionOptions();
    dir_ = sandbox_->dir() + "/pki";
  }

  std::unique_ptr<SoftHsmSandbox> sandbox_;
  ProvisionOptions options_;
  std::string dir_;
};

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_
