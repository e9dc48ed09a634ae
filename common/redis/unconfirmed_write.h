#ifndef SCEP_COMMON_REDIS_UNCONFIRMED_WRITE_H_
#define SCEP_COMMON_REDIS_UNCONFIRMED_WRITE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace scep::redis {

// A write Redis ran whose replication could not be confirmed: with
// RedisOptions::wait_replicas, the connection failed during the WAIT that
// followed it (the primary went away, most likely before a replica had the
// write: an unplanned failover loses exactly these). Whether it survives is
// unknown, so it is neither sent again nor journalled; the gateway answers
// 503 rather than hand out a certificate whose records may be gone.
// Unavailable, marked with a payload.
absl::Status UnconfirmedWriteError(absl::string_view message);
bool IsUnconfirmedWrite(const absl::Status& status);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_UNCONFIRMED_WRITE_H_
