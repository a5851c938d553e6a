#include "common/torch_status.h"

#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"

namespace memr1 {
namespace {

std::string FirstLine(absl::string_view text) {
  const size_t end = text.find('\n');
  return std::string(end == absl::string_view::npos ? text : text.substr(0, end));
}

}  // namespace

absl::Status FromTorchError(const c10::Error& error, absl::string_view context) {
  const std::string message = absl::StrCat(context, ": ", FirstLine(error.what_without_backtrace()));
  if (dynamic_cast<const c10::IndexError*>(&error) != nullptr ||
      dynamic_cast<const c10::ValueError*>(&error) != nullptr ||
      dynamic_cast<const c10::TypeError*>(&error) != nullptr) {
    return absl::InvalidArgumentError(message);
  }
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) != nullptr) {
    return absl::ResourceExhaustedError(message);
  }
  if (dynamic_cast<const c10::NotImplementedError*>(&error) != nullptr) {
    return absl::UnimplementedError(message);
  }
  return absl::InternalError(message);
}

namespace internal {

absl::Status CurrentExceptionToStatus(absl::string_view context) {
  try {
    throw;
  } catch (const c10::Error& error) {
    return FromTorchError(error, context);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(context, ": out of memory"));
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat(context, ": ", FirstLine(error.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat(context, ": unknown exception"));
  }
}

}  // namespace internal
}  // namespace memr1
