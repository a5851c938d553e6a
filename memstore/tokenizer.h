#pragma once

// The tokenizer of memstore's BM25 search.
//
// A token is a maximal run of ASCII letters, ASCII digits and non-ASCII bytes (so UTF-8 words
// stay whole), with ASCII letters lowercased. Everything else (spaces, punctuation, control
// characters) separates tokens. No stemming and no stop words: Memory-R1's memories are short
// facts where names, dates and numbers matter ("7 May 2023", "LGBTQ").
//
// Thread safety: pure functions.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace memr1::memstore {

std::vector<std::string> Tokenize(absl::string_view text);

}  // namespace memr1::memstore
