#include "common/pkcs11/module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/pkcs11/ckr.h"

namespace scep::pkcs11 {
namespace {

constexpr size_t kLabelSize = sizeof(CK_TOKEN_INFO{}.label);

absl::string_view TrimmedLabel(const CK_TOKEN_INFO& info) {
  absl::string_view label(reinterpret_cast<const char*>(info.label),
                          kLabelSize);
  while (!label.empty() && (label.back() == ' ' || label.back() == '\0')) {
    label.remove_suffix(1);
  }
  return label;
}

}  // namespace

bool SameModuleFile(const std::string& a, const std::string& b) {
  if (a == b) return true;
  struct stat sa {};
  struct stat sb {};
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

absl::StatusOr<std::unique_ptr<Module>> Module::Load(absl::string_view path) {
  std::string owned_path(path);
  void* handle = dlopen(owned_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load PKCS#11 module '", path,
                     "': ", why != nullptr ? why : "unknown error"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(
      dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST* functions = nullptr;
  if (get_list == nullptr || get_list(&functions) != CKR_OK ||
      functions == nullptr) {
    dlclose(handle);
    return absl::FailedPreconditionError(
        absl::StrCat("'", path, "' is not a PKCS#11 module"));
  }
  return std::unique_ptr<Module>(
      new Module(std::move(owned_path), handle, functions));
}

Module::~Module() {
  if (owns_initialization_) functions_->C_Finalize(nullptr);
  dlclose(handle_);
}

absl::Status Module::Initialize() {
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions_->C_Initialize(&args);
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) return absl::OkStatus();
  if (rv != CKR_OK) {
    return CkrError(absl::StatusCode::kUnavailable,
                    absl::StrCat("C_Initialize of '", path_, "'"), rv);
  }
  owns_initialization_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CK_SLOT_ID>> Module::SlotsWithToken() const {
  // The count can change between the two calls (SoftHSMv2 adds a slot after
  // C_InitToken), so retry on CKR_BUFFER_TOO_SMALL.
  for (int attempt = 0; attempt < 5; ++attempt) {
    CK_ULONG count = 0;
    CK_RV rv = functions_->C_GetSlotList(CK_TRUE, nullptr, &count);
    if (rv != CKR_OK) return CkrError("C_GetSlotList", rv);
    std::vector<CK_SLOT_ID> slots(count);
    rv = functions_->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    if (rv != CKR_OK) return CkrError("C_GetSlotList", rv);
    slots.resize(count);
    return slots;
  }
  return absl::UnavailableError("C_GetSlotList: slot list keeps changing");
}

absl::StatusOr<std::optional<CK_SLOT_ID>> Module::FindToken(
    absl::string_view label) const {
  ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotsWithToken());
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (functions_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    if (TrimmedLabel(info) == label) return slot;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<CK_SLOT_ID>> Module::FindUninitializedSlot()
    const {
  ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotsWithToken());
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (functions_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) return slot;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> PaddedTokenLabel(absl::string_view label) {
  if (label.empty() || label.size() > kLabelSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token label must be 1 to ", kLabelSize, " bytes, got ", label.size()));
  }
  std::string padded(label);
  padded.resize(kLabelSize, ' ');
  return padded;
}

}  // namespace scep::pkcs11
