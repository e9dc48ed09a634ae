#ifndef SCEP_COMMON_PKCS11_PROVISIONER_TEST_FIXTURE_H_
#define SCEP_COMMON_PKCS11_PROVISIONER_TEST_FIXTURE_H_

// A SoftHSMv2 store of each test's own and the options that provision a
// "scep-dev" token into it, shared by provisioner_test.cc and
// provisioner_ra_test.cc (where the RA key goes).

#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>

#include "common/pkcs11/module.h"
#include "common/pkcs11/provisioner.h"
#include "common/pkcs11/session.h"
#include "common/pkcs11/softhsm_sandbox.h"
#include "gtest/gtest.h"

namespace scep::pkcs11::testing {

inline constexpr char kPin[] = "246810";
inline constexpr char kSoPin[] = "13579";

inline bool IsCritical(const X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 &&
         X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

// Whole days from now until `time` (negative when in the past).
inline int DaysFromNow(const ASN1_TIME* time) {
  int days = 0;
  int seconds = 0;
  ASN1_TIME_diff(&days, &seconds, nullptr, time);
  return days;
}

class ProvisionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> sandbox =
        SoftHsmSandbox::New();
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    options_.module_path = SCEP_SOFTHSM2_MODULE;
    options_.token_label = "scep-dev";
    options_.user_pin = kPin;
    options_.so_pin = kSoPin;
    options_.ca_subject = "CN=SCEP Dev CA,O=Example";
    options_.ra_subject = "CN=SCEP Dev RA,O=Example";
  }

  TokenConfig Config() const {
    return {options_.module_path, options_.token_label, options_.user_pin, {}};
  }

  // CKA_DECRYPT of the private key `label`, or of its public half's
  // CKA_ENCRYPT when `public_half`, read with raw Cryptoki.
  bool Allows(const std::string& label, bool public_half) {
    absl::StatusOr<std::unique_ptr<Module>> module = Module::Load(options_.module_path);
    EXPECT_TRUE(module.ok() && (*module)->Initialize().ok());
    if (!module.ok()) return true;
    absl::StatusOr<std::optional<CK_SLOT_ID>> slot = (*module)->FindToken(options_.token_label);
    EXPECT_TRUE(slot.ok() && slot->has_value());
    absl::StatusOr<Session> session = Session::Open(**module, **slot, /*read_write=*/false);
    EXPECT_TRUE(session.ok() &&
                session->Login(CKU_USER, options_.user_pin, options_.token_label).ok());
    absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> key =
        session->FindObject(public_half ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY, label);
    EXPECT_TRUE(key.ok() && key->has_value()) << label;
    absl::StatusOr<bool> allowed =
        session->GetBool(**key, public_half ? CKA_ENCRYPT : CKA_DECRYPT);
    EXPECT_TRUE(allowed.ok()) << allowed.status();
    return allowed.value_or(true);
  }

  std::unique_ptr<SoftHsmSandbox> sandbox_;
  ProvisionOptions options_;
};

}  // namespace scep::pkcs11::testing

#endif  // SCEP_COMMON_PKCS11_PROVISIONER_TEST_FIXTURE_H_
