#pragma once

// What the agents' parsers return: a value, or a typed format failure. Model output that cannot
// be accepted is never a crash and never half-applied: the caller leaves the bank unchanged,
// counts the failure (memr1_actor_format_failures_total{agent, kind}) and scores it as such.
//
// Also the JSON finder all parsers share: models wrap JSON in ```json fences and write text
// around it, so FindJsonValue scans for the first complete JSON object or array that parses.
//
// Thread safety: pure functions and plain values.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json_fwd.hpp>

namespace memr1::actor {

enum class FormatFailureKind {
  kNoJson,          // no JSON object/array anywhere in the output
  kMalformedJson,   // something JSON-like was found but did not parse
  kWrongShape,      // JSON of the wrong structure (missing "memory" list, fact not a string)
  kUnknownEvent,    // "event" not one of ADD / UPDATE / DELETE / NONE
  kUnknownId,       // UPDATE / NONE naming an id that was not shown
  kDeleteNotShown,  // DELETE of an id that was not shown
  kMissingText,     // ADD / UPDATE without text
  kConflictingOps,  // two operations on one shown memory
  kNoAnswerMarker,  // the answer marker ("**Answer:**") is missing
  kEmptyAnswer,     // nothing after the marker
};

// "no_json", "malformed_json", ... (metric label values).
const char* FormatFailureName(FormatFailureKind kind);

struct FormatFailure {
  FormatFailureKind kind;
  std::string detail;  // what was wrong, with a short excerpt of the output
};

template <typename T>
struct Parsed {
  std::optional<T> value;
  std::optional<FormatFailure> failure;

  bool ok() const { return value.has_value(); }
  static Parsed Ok(T v) { return Parsed{std::move(v), std::nullopt}; }
  static Parsed Fail(FormatFailureKind kind, std::string detail) {
    return Parsed{std::nullopt, FormatFailure{kind, std::move(detail)}};
  }
};

// Finds the first JSON object or array in `text` that parses (after dropping ``` / ```json
// fence lines). Candidates start at each '{' (followed by '"', '\'' or '}') or '[' (followed by
// a JSON value, '\'' or ']'), so prose such as "[see above]" or "{ is" is skipped; a candidate
// spans to its balanced closing bracket (brackets inside JSON strings do not count). Values
// nested inside a candidate that fails are not tried: a trailing comma or a truncated list
// fails the output instead of turning its first element into the result.
// kNoJson when there is no '{' or '[' at all, kMalformedJson when none parses (the detail says
// where, and whether the value was unterminated, mismatched or did not parse).
Parsed<nlohmann::json> FindJsonValue(std::string_view text);

// At most ~120 bytes of `text` with whitespace runs collapsed to one space (so a detail stays
// on one log line), cut at a UTF-8 character boundary and ended with "..." when shortened.
std::string Excerpt(std::string_view text);

}  // namespace memr1::actor
