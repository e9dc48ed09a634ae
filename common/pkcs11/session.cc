#include "common/pkcs11/session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/pkcs11/ckr.h"

namespace scep::pkcs11 {

absl::StatusOr<Session> Session::Open(const Module& module, CK_SLOT_ID slot,
                                      bool read_write) {
  CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  CK_RV rv =
      module.functions()->C_OpenSession(slot, flags, nullptr, nullptr, &handle);
  if (rv != CKR_OK) return CkrError("C_OpenSession", rv);
  return Session(module.functions(), handle);
}

Session::Session(Session&& other) noexcept
    : functions_(other.functions_),
      handle_(std::exchange(other.handle_, CK_INVALID_HANDLE)),
      logged_in_(std::exchange(other.logged_in_, false)) {}

Session& Session::operator=(Session&& other) noexcept {
  if (this != &other) {
    Close();
    functions_ = other.functions_;
    handle_ = std::exchange(other.handle_, CK_INVALID_HANDLE);
    logged_in_ = std::exchange(other.logged_in_, false);
  }
  return *this;
}

Session::~Session() { Close(); }

void Session::Close() {
  if (handle_ == CK_INVALID_HANDLE) return;
  if (logged_in_) functions_->C_Logout(handle_);
  functions_->C_CloseSession(handle_);
  handle_ = CK_INVALID_HANDLE;
  logged_in_ = false;
}

absl::Status Session::Login(CK_USER_TYPE user_type, absl::string_view pin,
                            absl::string_view token_label) {
  // C_Login takes a non-const pointer but does not write through it.
  CK_RV rv = functions_->C_Login(
      handle_, user_type,
      reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
      pin.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return absl::OkStatus();
  const char* who = user_type == CKU_SO ? "SO" : "user";
  if (rv != CKR_OK) {
    return CkrError(absl::StrCat(who, " login to token '", token_label,
                                 "' failed"),
                    rv);
  }
  logged_in_ = true;
  return absl::OkStatus();
}

absl::Status Session::Logout() {
  if (!logged_in_) return absl::OkStatus();
  logged_in_ = false;
  CK_RV rv = functions_->C_Logout(handle_);
  if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN) {
    return CkrError("C_Logout", rv);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CK_OBJECT_HANDLE>> Session::FindObject(
    CK_OBJECT_CLASS object_class, absl::string_view label) const {
  absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> objects = FindObjects(object_class, label, 1);
  if (!objects.ok()) return objects.status();
  if (objects->empty()) return std::nullopt;
  return objects->front();
}

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> Session::FindObjects(
    CK_OBJECT_CLASS object_class, absl::string_view label, size_t max) const {
  CK_ATTRIBUTE query[] = {
      {CKA_CLASS, &object_class, sizeof(object_class)},
      {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
  };
  CK_RV rv = functions_->C_FindObjectsInit(handle_, query, 2);
  if (rv != CKR_OK) return CkrError("C_FindObjectsInit", rv);
  std::vector<CK_OBJECT_HANDLE> objects(max, CK_INVALID_HANDLE);
  CK_ULONG count = 0;
  rv = functions_->C_FindObjects(handle_, objects.data(), objects.size(), &count);
  CK_RV final_rv = functions_->C_FindObjectsFinal(handle_);
  if (rv != CKR_OK) return CkrError("C_FindObjects", rv);
  if (final_rv != CKR_OK) return CkrError("C_FindObjectsFinal", final_rv);
  objects.resize(count);
  return objects;
}

absl::StatusOr<std::string> Session::GetAttribute(
    CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) const {
  CK_ATTRIBUTE attribute = {type, nullptr, 0};
  CK_RV rv = functions_->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv == CKR_ATTRIBUTE_SENSITIVE) {
    return absl::PermissionDeniedError(
        absl::StrCat("attribute 0x", absl::Hex(type), " is sensitive"));
  }
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID ||
      (rv == CKR_OK && attribute.ulValueLen == CK_UNAVAILABLE_INFORMATION)) {
    return absl::NotFoundError(
        absl::StrCat("object has no attribute 0x", absl::Hex(type)));
  }
  if (rv != CKR_OK) return CkrError("C_GetAttributeValue", rv);
  std::string value(attribute.ulValueLen, '\0');
  attribute.pValue = value.data();
  rv = functions_->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return CkrError("C_GetAttributeValue", rv);
  value.resize(attribute.ulValueLen);
  return value;
}

absl::StatusOr<bool> Session::GetBool(CK_OBJECT_HANDLE object,
                                      CK_ATTRIBUTE_TYPE type) const {
  absl::StatusOr<std::string> value = GetAttribute(object, type);
  if (!value.ok()) return value.status();
  if (value->size() != sizeof(CK_BBOOL)) {
    return absl::InternalError(
        absl::StrCat("attribute 0x", absl::Hex(type), " is not a CK_BBOOL"));
  }
  return (*value)[0] != CK_FALSE;
}

absl::StatusOr<CK_ULONG> Session::GetUlong(CK_OBJECT_HANDLE object,
                                           CK_ATTRIBUTE_TYPE type) const {
  CK_ULONG result = 0;
  CK_ATTRIBUTE attribute = {type, &result, sizeof(result)};
  CK_RV rv = functions_->C_GetAttributeValue(handle_, object, &attribute, 1);
  if (rv != CKR_OK) return CkrError("C_GetAttributeValue", rv);
  return result;
}

absl::StatusOr<CK_SESSION_INFO> Session::Info() const {
  CK_SESSION_INFO info;
  CK_RV rv = functions_->C_GetSessionInfo(handle_, &info);
  if (rv != CKR_OK) return CkrError("C_GetSessionInfo", rv);
  return info;
}

}  // namespace scep::pkcs11
