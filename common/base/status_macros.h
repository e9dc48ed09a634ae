#ifndef SCEP_COMMON_BASE_STATUS_MACROS_H_
#define SCEP_COMMON_BASE_STATUS_MACROS_H_

// Abseil 20220623 ships no status macros; these are the project's own.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SCEP_CONCAT_INNER_(a, b) a##b
#define SCEP_CONCAT_(a, b) SCEP_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status scep_status_ = (expr);              \
    if (!scep_status_.ok()) return scep_status_;       \
  } while (0)

// `lhs = value of expr`, or returns its status when it is an error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(SCEP_CONCAT_(scep_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // SCEP_COMMON_BASE_STATUS_MACROS_H_
