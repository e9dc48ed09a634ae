#ifndef SCEP_COMMON_PKCS11_MODULE_H_
#define SCEP_COMMON_PKCS11_MODULE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "p11-kit/pkcs11.h"

namespace scep::pkcs11 {

// A PKCS#11 module (shared library) for direct Cryptoki calls, used where
// libp11 0.4.12 has no API: EC key generation, token initialisation and
// attribute reads.
//
// dlopen returns the one in-process instance of a library, so a Module and a
// libp11 context on the same path share Cryptoki state: a C_Finalize by
// either (libp11 finalises unconditionally when it unloads) ends every
// session of both. Thread-compatible; the function list itself is
// thread-safe once initialised with OS locking.
class Module {
 public:
  // Loads the library at `path` and fetches its function list without
  // initialising it. FailedPrecondition when the library cannot be loaded or
  // is not a PKCS#11 module.
  static absl::StatusOr<std::unique_ptr<Module>> Load(absl::string_view path);

  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  // Calls C_Finalize if (and only if) Initialize() initialised the module,
  // then drops this reference to the library.
  ~Module();

  // C_Initialize with OS locking. When the module is already initialised in
  // this process (by libp11 or another Module) this succeeds and leaves
  // finalisation to the owner. Errors map through CkrError.
  absl::Status Initialize();

  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::string& path() const { return path_; }

  // IDs of the slots that hold a token, in module order.
  absl::StatusOr<std::vector<CK_SLOT_ID>> SlotsWithToken() const;

  // The slot of the initialised token labelled `label`, or nullopt when there
  // is none. Labels compare without PKCS#11's trailing blank padding.
  absl::StatusOr<std::optional<CK_SLOT_ID>> FindToken(
      absl::string_view label) const;

  // A slot whose token is present but not initialised (SoftHSMv2 always keeps
  // one spare), or nullopt.
  absl::StatusOr<std::optional<CK_SLOT_ID>> FindUninitializedSlot() const;

 private:
  Module(std::string path, void* handle, CK_FUNCTION_LIST* functions)
      : path_(std::move(path)), handle_(handle), functions_(functions) {}

  const std::string path_;
  void* const handle_;
  CK_FUNCTION_LIST* const functions_;
  bool owns_initialization_ = false;
};

// Whether `a` and `b` load the same library file: the same device and
// inode once symlinks are followed (/usr/lib/softhsm/libsofthsm2.so and
// /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so are one module, as
// dlopen would return one instance for both). Paths that cannot be
// stat'ed (a bare name for the loader's search path) compare as strings.
bool SameModuleFile(const std::string& a, const std::string& b);

// `label` blank-padded to the 32 bytes of CK_TOKEN_INFO.label, as
// C_InitToken wants it. InvalidArgument when empty or longer than 32 bytes.
absl::StatusOr<std::string> PaddedTokenLabel(absl::string_view label);

}  // namespace scep::pkcs11

#endif  // SCEP_COMMON_PKCS11_MODULE_H_
