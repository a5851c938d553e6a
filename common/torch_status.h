#pragma once

// The edge between LibTorch's exceptions and memr1's Status-returning APIs. Only
// <c10/util/Exception.h> is needed here, so including this header stays cheap.

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace c10 {
class Error;
}  // namespace c10

namespace memr1 {

// Converts a LibTorch exception to a Status: c10::IndexError / ValueError / TypeError become
// InvalidArgument, c10::OutOfMemoryError (CUDA OOM) ResourceExhausted, NotImplementedError
// Unimplemented, any other c10::Error Internal. `context` names the operation ("forward of
// layer 3"). The message keeps LibTorch's first line, not its C++ backtrace.
absl::Status FromTorchError(const c10::Error& error, absl::string_view context);

namespace internal {
absl::Status CurrentExceptionToStatus(absl::string_view context);
}  // namespace internal

// Runs `fn` and converts any exception it throws (c10::Error or std::exception) to a Status.
// `fn` returns void, absl::Status, or a value T (then TorchCall returns StatusOr<T>).
template <typename Fn>
auto TorchCall(absl::string_view context, Fn&& fn) {
  using R = std::invoke_result_t<Fn>;
  if constexpr (std::is_void_v<R>) {
    try {
      std::forward<Fn>(fn)();
      return absl::OkStatus();
    } catch (...) {
      return internal::CurrentExceptionToStatus(context);
    }
  } else if constexpr (std::is_same_v<R, absl::Status>) {
    try {
      return std::forward<Fn>(fn)();
    } catch (...) {
      return internal::CurrentExceptionToStatus(context);
    }
  } else {
    try {
      return absl::StatusOr<R>(std::forward<Fn>(fn)());
    } catch (...) {
      return absl::StatusOr<R>(internal::CurrentExceptionToStatus(context));
    }
  }
}

}  // namespace memr1
