#ifndef SCEP_COMMON_REDIS_REQUEST_KEYS_H_
#define SCEP_COMMON_REDIS_REQUEST_KEYS_H_

// Key layout and argument checks shared by the RequestStore and
// ChallengeStore implementations, so the fakes refuse exactly what Redis
// refuses.
//
//   scep:{profile}:req:{id}          approval request (hash; TTL)
//   scep:{profile}:reqs              its index: sorted set of request keys
//   scep:reqs                        the same over every profile
//                                    (score: creation time in ms)
//   scep:{profile}:challenge:{hash}  one-time challenge (string: the bound
//                                    subject; TTL)
//   scep:{profile}:challenge:{hash}:claim
//                                    the transaction that claimed it (string:
//                                    ChallengeHolder; TTL: the challenge's
//                                    remaining TTL and a second)
//
// {id} is formed from the transactionID as in store_keys.h (hex, or
// "sha256-" + hex digest when long). {hash} is always the hex SHA-256 of the
// challenge, so Redis never holds a usable challenge.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace scep::redis {

inline constexpr absl::string_view kAllRequestsIndexKey = "scep:reqs";
inline constexpr int kMaxRequestPageSize = 1000;

// Hash key of a request. InvalidArgument for a bad profile or an empty
// transactionID.
absl::StatusOr<std::string> RequestKey(absl::string_view profile,
                                       absl::string_view transaction_id);

// The per-profile index key, or kAllRequestsIndexKey for profile "".
// InvalidArgument for a bad non-empty profile.
absl::StatusOr<std::string> RequestIndexKey(absl::string_view profile);

// InvalidArgument for a bad profile or an empty challenge.
absl::StatusOr<std::string> ChallengeKey(absl::string_view profile,
                                         absl::string_view challenge);

// The key of the claim on the challenge under `challenge_key`. Apart from
// the challenge's own key, which keeps the form gateways before the claim
// read, so challenges minted before an upgrade, and gateways of the old
// version during a rolling one, keep working.
std::string ChallengeClaimKey(absl::string_view challenge_key);

// What a claim records of the transaction that holds it: hex SHA-256 over
// the transactionID and the request fingerprint, neither kept as is.
// InvalidArgument when either is empty.
absl::StatusOr<std::string> ChallengeHolder(absl::string_view transaction_id,
                                            absl::string_view fingerprint);

// A position in a time-ordered index: after (score, member). Page tokens
// are "score:member"; "" is the start.
struct IndexCursor {
  int64_t score = 0;
  std::string member;
  bool start = true;
};
absl::StatusOr<IndexCursor> ParsePageToken(absl::string_view token);
std::string PageToken(int64_t score, absl::string_view member);

// InvalidArgument unless 1 <= page_size <= kMaxRequestPageSize.
absl::Status ValidatePageSize(int page_size);

}  // namespace scep::redis

#endif  // SCEP_COMMON_REDIS_REQUEST_KEYS_H_
