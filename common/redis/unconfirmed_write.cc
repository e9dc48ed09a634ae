#include "common/redis/unconfirmed_write.h"

#include "absl/strings/cord.h"

namespace scep::redis {
namespace {

constexpr char kPayload[] = "scep.redis/unconfirmed-write";

}  // namespace

absl::Status UnconfirmedWriteError(absl::string_view message) {
  absl::Status status = absl::UnavailableError(message);
  status.SetPayload(kPayload, absl::Cord("1"));
  return status;
}

bool IsUnconfirmedWrite(const absl::Status& status) {
  return absl::IsUnavailable(status) && status.GetPayload(kPayload).has_value();
}

}  // namespace scep::redis
