#pragma once

// Python's notion of whitespace (str.isspace / str.split() with no argument), which both the
// tokenizer (transformers' clean-ups) and the scorers (Python reference scorers) reproduce.

namespace memr1 {

// True for the code points Python's str.isspace() accepts: ASCII whitespace, the information
// separators U+001C-U+001F, NEL, NBSP and the Unicode space separators and line/paragraph
// separators.
bool IsPythonSpace(char32_t c);

}  // namespace memr1
