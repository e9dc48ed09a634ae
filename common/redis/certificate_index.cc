#include "common/redis/certificate_index.h"

namespace scep::redis {

absl::Status ValidateSerialHex(absl::string_view serial_hex) {
  if (serial_hex.empty() || serial_hex.size() > 40 ||
      serial_hex.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return absl::InvalidArgumentError("serial must be 1..40 lower-case hex digits");
  }
  return absl::OkStatus();
}

}  // namespace scep::redis
