#ifndef SCEP_COMMON_RPC_CALL_DEADLINE_H_
#define SCEP_COMMON_RPC_CALL_DEADLINE_H_

#include "absl/time/time.h"

namespace scep::rpc {

// The deadline of the call this thread is serving (the admin API's
// caller's), so that the calls made on its behalf (to the signer) end no
// later: a caller that gave up does not have a certificate issued behind
// its back. Set for the duration of a scope; scopes nest.
class ScopedCallDeadline {
 public:
  explicit ScopedCallDeadline(absl::Time deadline);
  ~ScopedCallDeadline();
  ScopedCallDeadline(const ScopedCallDeadline&) = delete;
  ScopedCallDeadline& operator=(const ScopedCallDeadline&) = delete;

 private:
  const absl::Time outer_;
};

// The innermost ScopedCallDeadline of this thread; InfiniteFuture outside
// any.
absl::Time CallDeadline();

// `own` (a downstream call's deadline), or CallDeadline() when sooner.
absl::Time WithinCallDeadline(absl::Time own);

}  // namespace scep::rpc

#endif  // SCEP_COMMON_RPC_CALL_DEADLINE_H_
