#pragma once

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view),
// so absl::StrCat and friends do not take a std::string_view. ToAbsl converts without copying.

#include <string_view>

#include "absl/strings/string_view.h"

namespace memr1 {

inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace memr1
