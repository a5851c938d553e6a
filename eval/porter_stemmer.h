#pragma once

// The Porter stemmer exactly as NLTK's `PorterStemmer()` runs it by default (mode
// NLTK_EXTENSIONS, `to_lowercase=True`): Martin Porter's extensions plus NLTK's irregular-form
// table ("skies" -> "sky", "dying" -> "die"), the 'ies'/'ied' rules for four-letter words, the
// y -> i rule only after a consonant, and "alli"/"fulli"/"logi". The official LoCoMo scorer
// stems every token with it, so F1 numbers depend on matching it character for character;
// tests/eval checks it against NLTK itself.
//
// Thread safety: stateless; safe from any thread.

#include <string>

#include "absl/strings/string_view.h"

namespace memr1::eval {

// Stems one token (UTF-8). Lower-cases first, like NLTK. Words of at most two code points are
// returned lower-cased but otherwise unchanged.
std::string PorterStem(absl::string_view word);
std::u32string PorterStem(const std::u32string& word);

}  // namespace memr1::eval
