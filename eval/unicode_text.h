#pragma once

// Unicode text helpers that reproduce Python 3's `str` semantics, which the reference scorers
// (LoCoMo's evaluation.py, Mem0's metrics, NLTK) are written against: `str.lower()` (full case
// mapping), `str.split()` / `str.strip()` whitespace, and the `\w` word characters of `re`.
// Text is UTF-8 at the API; invalid bytes decode to U+FFFD (Python would refuse such bytes at
// file-read time, so no reference result exists for them).
//
// Thread safety: pure functions.

#include <string>
#include <vector>

#include "common/python_text.h"
#include "absl/strings/string_view.h"

namespace memr1::eval {

// UTF-8 <-> code points.
std::u32string DecodeUtf8(absl::string_view text);
std::string EncodeUtf8(const std::u32string& text);

// Python's `text.lower()`: full Unicode lower-case mapping (root locale), e.g. "İ" -> "i̇".
std::string PythonLower(absl::string_view text);
std::u32string PythonLower(const std::u32string& text);

// Whether a code point is whitespace by Python's str.isspace() (common/python_text.h).
using ::memr1::IsPythonSpace;
// A word character of Python's `re` on str patterns (`\w`): alphanumeric or underscore.
bool IsPythonWordChar(char32_t c);
// A character of Python's `string.punctuation` (ASCII punctuation only).
bool IsAsciiPunctuation(char32_t c);

// Python's `text.split()` (no argument): runs of whitespace separate, empty parts dropped.
std::vector<std::u32string> PythonSplit(const std::u32string& text);
std::vector<std::string> PythonSplit(absl::string_view text);
// Python's `text.strip()`.
std::string PythonStrip(absl::string_view text);

}  // namespace memr1::eval
