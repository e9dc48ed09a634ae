#ifndef SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_
#define SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_

// Tests only: provisioning options for a SoftHsmSandbox token.

#include "common/pkcs11/provisioner.h"

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

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_SANDBOX_OPTIONS_H_
