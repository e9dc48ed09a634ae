#ifndef SCEP_COMMON_PKCS11_SOFTHSM_SANDBOX_H_
#define SCEP_COMMON_PKCS11_SOFTHSM_SANDBOX_H_

// Test support: a private SoftHSMv2 token directory.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/pkcs11/module.h"
#include "common/pkcs11/session.h"

namespace scep::pkcs11 {

// A temporary directory holding a softhsm2.conf and an empty token store,
// made current by setting SOFTHSM2_CONF. SoftHSMv2 reads that variable in
// C_Initialize, so create the sandbox while no Token or Module has the
// module initialised. The destructor deletes the directory and restores the
// previous SOFTHSM2_CONF. Not thread-safe (it changes the environment).
class SoftHsmSandbox {
 public:
  static absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> New();

  SoftHsmSandbox(const SoftHsmSandbox&) = delete;
  SoftHsmSandbox& operator=(const SoftHsmSandbox&) = delete;
  ~SoftHsmSandbox();

  const std::string& dir() const { return dir_; }

 private:
  SoftHsmSandbox(std::string dir, std::string previous_conf, bool had_conf)
      : dir_(std::move(dir)),
        previous_conf_(std::move(previous_conf)),
        had_conf_(had_conf) {}

  const std::string dir_;
  const std::string previous_conf_;
  const bool had_conf_;
};

// A read-write user session on `token_label` of `module_path`, for tests
// that change a token's objects underneath the code under test (an
// interrupted relabel, a deleted public key). The module stays loaded as
// long as the session.
struct UserSession {
  std::unique_ptr<Module> module;
  std::optional<Session> session;
};
absl::StatusOr<UserSession> OpenUserSession(const std::string& module_path,
                                            const std::string& token_label,
                                            const std::string& pin);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_SOFTHSM_SANDBOX_H_
