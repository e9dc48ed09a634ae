#include "common/pkcs11/softhsm_sandbox.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

namespace scep::pkcs11 {

absl::StatusOr<std::unique_ptr<SoftHsmSandbox>> SoftHsmSandbox::New() {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error) base = "/tmp";
  std::string dir_template = (base / "scep-softhsm-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  const std::string dir = dir_template;
  std::filesystem::create_directory(dir + "/tokens", error);
  if (error) {
    return absl::InternalError(absl::StrCat("mkdir: ", error.message()));
  }
  const std::string conf = dir + "/softhsm2.conf";
  std::ofstream out(conf);
  out << "directories.tokendir = " << dir << "/tokens\n"
      << "objectstore.backend = file\n"
      << "log.level = ERROR\n";
  out.close();
  if (!out) return absl::InternalError("cannot write " + conf);

  const char* previous = getenv("SOFTHSM2_CONF");
  std::unique_ptr<SoftHsmSandbox> sandbox(new SoftHsmSandbox(
      dir, previous != nullptr ? previous : "", previous != nullptr));
  setenv("SOFTHSM2_CONF", conf.c_str(), /*overwrite=*/1);
  return sandbox;
}

SoftHsmSandbox::~SoftHsmSandbox() {
  if (had_conf_) {
    setenv("SOFTHSM2_CONF", previous_conf_.c_str(), 1);
  } else {
    unsetenv("SOFTHSM2_CONF");
  }
  std::error_code error;
  std::filesystem::remove_all(dir_, error);
}

absl::StatusOr<UserSession> OpenUserSession(const std::string& module_path,
                                            const std::string& token_label,
                                            const std::string& pin) {
  UserSession out;
  ASSIGN_OR_RETURN(out.module, Module::Load(module_path));
  RETURN_IF_ERROR(out.module->Initialize());
  ASSIGN_OR_RETURN(std::optional<CK_SLOT_ID> slot, out.module->FindToken(token_label));
  if (!slot.has_value()) return absl::NotFoundError("no token " + token_label);
  ASSIGN_OR_RETURN(Session session, Session::Open(*out.module, *slot, /*read_write=*/true));
  RETURN_IF_ERROR(session.Login(CKU_USER, pin, token_label));
  out.session.emplace(std::move(session));
  return out;
}

}  // namespace scep::pkcs11
