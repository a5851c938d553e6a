#include "actor/output_format.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace memr1::actor {
namespace {

constexpr size_t kExcerptBytes = 120;

// A line that is only a code fence ("```", "```json", "  ```JSON"). JSON strings cannot hold a
// raw newline, so such a line is never part of a JSON value and can be dropped safely.
bool IsFenceLine(absl::string_view line) {
  absl::string_view rest = absl::StripAsciiWhitespace(line);
  if (!absl::ConsumePrefix(&rest, "```")) return false;
  for (char c : rest) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

std::string StripFences(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    if (IsFenceLine(line)) {
      out.push_back('\n');  // keep line structure so byte offsets in details stay readable
      continue;
    }
    out.append(line.data(), line.size());
    out.push_back('\n');
  }
  if (!out.empty()) out.pop_back();
  return out;
}

// Whether the '{' or '[' at `start` can begin a JSON value: prose such as "{ is odd" or
// "[see above]" is not a candidate (it would otherwise swallow the real JSON after it when it
// never closes). A single quote counts, so Python-style dicts are reported as malformed JSON.
bool PlausibleStart(const std::string& text, size_t start) {
  size_t i = start + 1;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i == text.size()) return true;  // truncated right after the bracket
  const char c = text[i];
  if (text[start] == '{') return c == '"' || c == '}' || c == '\'';
  return c == '"' || c == '\'' || c == '{' || c == '[' || c == ']' || c == '-' ||
         std::isdigit(static_cast<unsigned char>(c)) || c == 't' || c == 'f' || c == 'n';
}

enum class SpanEnd { kClosed, kMismatched, kUnterminated };

// Scans the bracketed value starting at `start`, respecting JSON strings and their escapes.
// Sets `*end` one past the closing bracket (kClosed) or past the mismatched one (kMismatched).
SpanEnd ScanSpan(const std::string& text, size_t start, size_t* end) {
  std::vector<char> closers;
  bool in_string = false;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
        closers.push_back('}');
        break;
      case '[':
        closers.push_back(']');
        break;
      case '}':
      case ']':
        if (closers.empty() || closers.back() != c) {
          *end = i + 1;
          return SpanEnd::kMismatched;
        }
        closers.pop_back();
        if (closers.empty()) {
          *end = i + 1;
          return SpanEnd::kClosed;
        }
        break;
      default:
        break;
    }
  }
  *end = text.size();
  return SpanEnd::kUnterminated;
}

}  // namespace

const char* FormatFailureName(FormatFailureKind kind) {
  switch (kind) {
    case FormatFailureKind::kNoJson:
      return "no_json";
    case FormatFailureKind::kMalformedJson:
      return "malformed_json";
    case FormatFailureKind::kWrongShape:
      return "wrong_shape";
    case FormatFailureKind::kUnknownEvent:
      return "unknown_event";
    case FormatFailureKind::kUnknownId:
      return "unknown_id";
    case FormatFailureKind::kDeleteNotShown:
      return "delete_not_shown";
    case FormatFailureKind::kMissingText:
      return "missing_text";
    case FormatFailureKind::kConflictingOps:
      return "conflicting_ops";
    case FormatFailureKind::kNoAnswerMarker:
      return "no_answer_marker";
    case FormatFailureKind::kEmptyAnswer:
      return "empty_answer";
  }
  return "unknown";
}

std::string Excerpt(std::string_view text) {
  // Whitespace runs (newlines included) become one space so a detail stays on one log line.
  std::string flat;
  flat.reserve(std::min(text.size(), kExcerptBytes + 8));
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !flat.empty()) flat.push_back(' ');
    space = false;
    flat.push_back(c);
    if (flat.size() > kExcerptBytes) break;
  }
  if (flat.size() <= kExcerptBytes) return flat;
  size_t cut = kExcerptBytes - 3;
  // Never cut inside a UTF-8 sequence: back up over continuation bytes (10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(flat[cut]) & 0xC0) == 0x80) --cut;
  flat.resize(cut);
  flat.append("...");
  return flat;
}

Parsed<nlohmann::json> FindJsonValue(std::string_view text) {
  const std::string stripped = StripFences(text);
  bool any_bracket = false;
  std::string first_problem;
  size_t pos = 0;
  while (pos < stripped.size()) {
    const size_t start = stripped.find_first_of("{[", pos);
    if (start == std::string::npos) break;
    any_bracket = true;
    if (!PlausibleStart(stripped, start)) {
      pos = start + 1;
      continue;
    }
    size_t end = 0;
    const SpanEnd kind = ScanSpan(stripped, start, &end);
    const std::string_view span(stripped.data() + start, end - start);
    if (kind == SpanEnd::kClosed) {
      nlohmann::json value =
          nlohmann::json::parse(span.begin(), span.end(), /*cb=*/nullptr,
                                /*allow_exceptions=*/false);
      if (!value.is_discarded()) return Parsed<nlohmann::json>::Ok(std::move(value));
      if (first_problem.empty()) {
        first_problem = absl::StrCat("JSON at byte ", start, " does not parse: ", Excerpt(span));
      }
    } else if (first_problem.empty()) {
      first_problem = kind == SpanEnd::kMismatched
                          ? absl::StrCat("JSON at byte ", start,
                                         " has a mismatched bracket: ", Excerpt(span))
                          : absl::StrCat("JSON at byte ", start,
                                         " is unterminated (truncated?): ", Excerpt(span));
    }
    // Values nested inside a failed candidate are parts of it, not answers: a trailing comma
    // or a truncated list must not turn its first element into the result.
    pos = end;
  }
  if (!any_bracket) {
    return Parsed<nlohmann::json>::Fail(FormatFailureKind::kNoJson,
                                        absl::StrCat("no JSON object or list in output: \"",
                                                     Excerpt(text), "\""));
  }
  if (first_problem.empty()) {
    first_problem = absl::StrCat("brackets but no JSON value in output: \"", Excerpt(text), "\"");
  }
  return Parsed<nlohmann::json>::Fail(FormatFailureKind::kMalformedJson, first_problem);
}

}  // namespace memr1::actor
