#include "common/rpc/call_deadline.h"

#include <algorithm>

namespace scep::rpc {
namespace {

thread_local absl::Time call_deadline = absl::InfiniteFuture();

}  // namespace

ScopedCallDeadline::ScopedCallDeadline(absl::Time deadline) : outer_(call_deadline) {
  call_deadline = std::min(outer_, deadline);
}

ScopedCallDeadline::~ScopedCallDeadline() { call_deadline = outer_; }

absl::Time CallDeadline() { return call_deadline; }

absl::Time WithinCallDeadline(absl::Time own) { return std::min(own, call_deadline); }

}  // namespace scep::rpc
