#ifndef SCEP_COMMON_PKCS11_SESSION_H_
#define SCEP_COMMON_PKCS11_SESSION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pkcs11/module.h"
#include "p11-kit/pkcs11.h"

namespace scep::pkcs11 {

// One Cryptoki session (C_OpenSession .. C_CloseSession) on a Module.
// Move-only; not for concurrent use. The Module must outlive the Session.
//
// PKCS#11 login state belongs to the application, not the session: a Login
// here is visible to every session on the token, libp11's included. So a
// Session only logs out on destruction when its own C_Login succeeded.
class Session {
 public:
  // Opens a serial session on `slot`, read-write when `read_write`.
  // Unavailable when the module is not initialised or the token is gone.
  static absl::StatusOr<Session> Open(const Module& module, CK_SLOT_ID slot,
                                      bool read_write);

  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  ~Session();

  // Logs in as `user_type` (CKU_SO or CKU_USER). Succeeds without taking
  // ownership when that user is already logged in. Wrong or locked PIN gives
  // PermissionDenied naming `token_label` and the CKR code; the PIN never
  // appears in a message.
  absl::Status Login(CK_USER_TYPE user_type, absl::string_view pin,
                     absl::string_view token_label);

  // Logs out if this session logged in; otherwise a no-op.
  absl::Status Logout();

  // The first object of class `object_class` whose CKA_LABEL is `label`.
  absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> FindObject(
      CK_OBJECT_CLASS object_class, absl::string_view label) const;
  // Up to `max` such objects (to tell one from several).
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(
      CK_OBJECT_CLASS object_class, absl::string_view label, size_t max) const;

  // Raw value of attribute `type` of `object`. NotFound when the object has
  // no such attribute, PermissionDenied when it is sensitive.
  absl::StatusOr<std::string> GetAttribute(CK_OBJECT_HANDLE object,
                                           CK_ATTRIBUTE_TYPE type) const;
  absl::StatusOr<bool> GetBool(CK_OBJECT_HANDLE object,
                               CK_ATTRIBUTE_TYPE type) const;
  absl::StatusOr<CK_ULONG> GetUlong(CK_OBJECT_HANDLE object,
                                    CK_ATTRIBUTE_TYPE type) const;

  // C_GetSessionInfo; its `state` tells whether the user is logged in.
  absl::StatusOr<CK_SESSION_INFO> Info() const;

  CK_SESSION_HANDLE handle() const { return handle_; }
  CK_FUNCTION_LIST* functions() const { return functions_; }

 private:
  Session(CK_FUNCTION_LIST* functions, CK_SESSION_HANDLE handle)
      : functions_(functions), handle_(handle) {}
  void Close();

  CK_FUNCTION_LIST* functions_;
  CK_SESSION_HANDLE handle_;
  bool logged_in_ = false;
};

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_SESSION_H_
