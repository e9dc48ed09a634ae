#include "common/base/port_flag.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace scep::base {

absl::StatusOr<uint16_t> PortFromFlag(absl::string_view flag, int value, int lowest) {
  constexpr int kHighest = 65535;
  if (value < lowest || value > kHighest) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " must be ", lowest, " to ", kHighest, ", not ", value));
  }
  return static_cast<uint16_t>(value);
}

absl::Status CheckHostPortFlag(absl::string_view flag, absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos) return absl::OkStatus();
  const absl::string_view port = host_port.substr(colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return absl::OkStatus();
  }
  int value = 0;
  if (port.size() > 5 || !absl::SimpleAtoi(port, &value) || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": port ", port, " is not 0 to 65535"));
  }
  return absl::OkStatus();
}

}  // namespace scep::base
