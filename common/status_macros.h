#pragma once

// Status propagation macros. Debian's Abseil (20220623) ships absl::Status but neither
// absl/log nor the status macros, so memr1 defines its own, in the usual shape.

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MEMR1_STATUS_CONCAT_INNER_(a, b) a##b
#define MEMR1_STATUS_CONCAT_(a, b) MEMR1_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK.
#define MEMR1_RETURN_IF_ERROR(expr)                         \
  do {                                                      \
    ::absl::Status memr1_status_ = (expr);                  \
    if (!memr1_status_.ok()) return memr1_status_;          \
  } while (false)

// MEMR1_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns
// its status, otherwise move-assigns the value to `lhs`, which may be a declaration.
#define MEMR1_ASSIGN_OR_RETURN(lhs, expr) \
  MEMR1_ASSIGN_OR_RETURN_IMPL_(MEMR1_STATUS_CONCAT_(memr1_statusor_, __LINE__), lhs, expr)

#define MEMR1_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

namespace memr1 {

// Returns `status` with `context` prepended to its message ("context: message"), keeping the
// code. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace memr1
