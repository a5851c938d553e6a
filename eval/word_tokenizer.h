#pragma once

// NLTK's `NLTKWordTokenizer` (the improved Treebank tokenizer behind `nltk.word_tokenize`),
// reproduced rule for rule with PCRE2 in UTF + Unicode-property mode so that `\w`, `\d`, `\s`
// and `\b` match what Python's `re` matches on str patterns. BLEU-1 is computed on these tokens,
// so a different split changes published numbers; tests/eval checks it against NLTK itself.
//
// Not reproduced: `word_tokenize` first splits text into sentences with the Punkt model (NLTK
// data that Debian does not ship). That only matters for a period in the middle of a text
// ("home. Then"), which this tokenizer, like NLTKWordTokenizer, keeps attached to the word.
//
// Thread safety: a WordTokenizer is immutable after construction; Tokenize() may be called
// from any number of threads at once.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace memr1::eval {

class WordTokenizer {
 public:
  // The process-wide instance (the patterns are compiled once).
  static const WordTokenizer& Default();

  WordTokenizer();
  ~WordTokenizer();
  WordTokenizer(const WordTokenizer&) = delete;
  WordTokenizer& operator=(const WordTokenizer&) = delete;

  // Tokens of `text` (UTF-8), as NLTKWordTokenizer().tokenize(text) returns them. Invalid
  // UTF-8 bytes are replaced by U+FFFD first.
  std::vector<std::string> Tokenize(absl::string_view text) const;

 private:
  struct Rule;
  std::vector<Rule> starting_quotes_;
  std::vector<Rule> punctuation_;
  std::vector<Rule> brackets_;
  std::vector<Rule> ending_quotes_;
  std::vector<Rule> contractions_;
};

}  // namespace memr1::eval
