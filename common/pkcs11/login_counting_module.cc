// Test support: a PKCS#11 module that forwards every call to SoftHSMv2 and
// counts C_Login calls, so tests can prove how often the code under test
// logs in (on an HSM each failed C_Login spends one of the PIN's tries).
// scep_test_login_calls() reads the count; a test keeps the library
// dlopen'ed so the count survives libp11 unloading its own reference.

#include <dlfcn.h>

#include <atomic>

#include "p11-kit/pkcs11.h"

namespace {

CK_FUNCTION_LIST forwarded;
CK_C_Login real_login = nullptr;
std::atomic<long> login_calls{0};

CK_RV CountingLogin(CK_SESSION_HANDLE session, CK_USER_TYPE user_type,
                    CK_UTF8CHAR_PTR pin, CK_ULONG pin_len) {
  login_calls.fetch_add(1);
  return real_login(session, user_type, pin, pin_len);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) long scep_test_login_calls() {
  return login_calls.load();
}

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  if (real_login == nullptr) {
    void* real = dlopen(SCEP_SOFTHSM2_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (real == nullptr) return CKR_GENERAL_ERROR;
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(real, "C_GetFunctionList"));
    CK_FUNCTION_LIST_PTR real_list = nullptr;
    if (get_list == nullptr || get_list(&real_list) != CKR_OK) return CKR_GENERAL_ERROR;
    forwarded = *real_list;
    real_login = real_list->C_Login;
    forwarded.C_Login = CountingLogin;
    forwarded.C_GetFunctionList = C_GetFunctionList;
  }
  *list = &forwarded;
  return CKR_OK;
}

}  // extern "C"
