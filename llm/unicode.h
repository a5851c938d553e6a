#pragma once

// Unicode helpers shared by the tokenizer and the chat templates: UTF-8 validation and lossy
// decoding, Unicode normalization (through ICU), the GPT-2 byte-level alphabet, and Python's
// notion of whitespace (for Jinja's `trim` and str.strip()).
//
// Thread safety: all functions are thread safe (the tables are immutable after first use).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/python_text.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memr1::llm {

// Debian's Abseil has its own string_view type (not std::string_view); this bridges the two
// for StrCat and heterogeneous hash-map look-ups.
inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

// OK when `text` is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF);
// otherwise InvalidArgument naming the byte offset of the first bad sequence.
absl::Status ValidateUtf8(std::string_view text);

// `bytes` as UTF-8 with every maximal invalid subsequence replaced by U+FFFD, the WHATWG /
// Rust from_utf8_lossy rule that Hugging Face decoders and JS TextDecoder use.
std::string Utf8Lossy(std::string_view bytes);

// Decodes one code point of valid UTF-8 at `text[*pos]` and advances `*pos`.
char32_t NextCodePoint(std::string_view text, size_t* pos);
// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(char32_t cp, std::string* out);

enum class NormalizationForm { kNfc, kNfd, kNfkc, kNfkd };

// Normalizes valid UTF-8 `text` to `form` with ICU. Returns `text` unchanged when it is
// already normalized (the common case, checked without copying through UTF-16).
absl::StatusOr<std::string> Normalize(NormalizationForm form, std::string_view text);

// The GPT-2 byte-level alphabet: byte b is shown as the code point ByteToCodePoint()[b], so
// that every byte has a printable, non-space stand-in ("Ġ" for ' ').
const std::array<char32_t, 256>& ByteToCodePoint();
// UTF-8 of the stand-in of each byte.
const std::array<std::string, 256>& ByteToUtf8();
// The byte a stand-in code point denotes, or -1 if `cp` is not in the alphabet.
int CodePointToByte(char32_t cp);

// Whether a code point is whitespace by Python's str.isspace() (common/python_text.h).
using ::memr1::IsPythonSpace;
// Python's str.strip() / lstrip() / rstrip() with no argument, on valid UTF-8.
std::string_view PythonStrip(std::string_view text);
std::string_view PythonLStrip(std::string_view text);
std::string_view PythonRStrip(std::string_view text);

}  // namespace memr1::llm
