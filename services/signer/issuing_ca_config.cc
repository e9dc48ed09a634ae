#include "services/signer/issuing_ca_config.h"

#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace scep::signer {

bool IsValidIssuingCaName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<std::vector<IssuingCaFiles>> IssuingCaFilesFor(
    const std::vector<std::string>& names, absl::string_view dir,
    IssuingCaFiles default_ca) {
  const std::filesystem::path base =
      dir.empty() ? std::filesystem::path(default_ca.ca_cert).parent_path()
                  : std::filesystem::path(std::string(dir));
  std::vector<IssuingCaFiles> out;
  out.reserve(names.size() + 1);
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!IsValidIssuingCaName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--issuing_cas: '", name.substr(0, 64),
          "' is not a CA name (1-64 of a-z, 0-9, '-', '_')"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--issuing_cas: '", name, "' is listed twice"));
    }
    const std::filesystem::path ca_dir = base / name;
    out.push_back({name, absl::StrCat(default_ca.ca_key_label, "-", name),
                   (ca_dir / "ca.pem").string(),
                   absl::StrCat(default_ca.ra_key_label, "-", name),
                   (ca_dir / "ra.pem").string(),
                   default_ca.ra_key_file.empty() ? std::string()
                                                  : (ca_dir / "ra-key.pem").string()});
  }
  default_ca.name.clear();
  out.insert(out.begin(), std::move(default_ca));
  return out;
}

}  // namespace scep::signer
