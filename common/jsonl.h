#pragma once

// Reading JSON-lines input (datasets, predictions, trajectories) the same way everywhere: blank
// lines (spaces, tabs, a CR) are skipped, and an error about a line names it as "source:N".
//
// Thread safety: a function; the stream is the caller's.

#include <functional>
#include <istream>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"

namespace memr1 {

// Calls `visit(line, where)` for every non-blank line of `in`, where `where` is
// "<source>:<line number>". Stops at the first error `visit` returns and returns it with
// `where` prepended (unless its message already starts with it). DataLoss when the stream fails
// while reading.
absl::Status ForEachJsonLine(
    std::istream& in, const std::string& source,
    const std::function<absl::Status(const std::string& line, const std::string& where)>& visit);

// The same for input whose every line must be one JSON object: a line that does not parse as
// one is InvalidArgument "<source>:<N>: not a JSON object".
absl::Status ForEachJsonObject(
    std::istream& in, const std::string& source,
    const std::function<absl::Status(const nlohmann::json& object, const std::string& where)>&
        visit);

}  // namespace memr1
