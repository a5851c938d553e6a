#include "eval/word_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "common/logging.h"
#include "eval/unicode_text.h"

namespace memr1::eval {

// One `regexp.sub(substitution, text)` step of NLTK. Replacements use PCRE2 syntax ($1, $0).
struct WordTokenizer::Rule {
  pcre2_code* code = nullptr;
  std::string replacement;
};

namespace {

pcre2_code* Compile(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  // The patterns are constants of this file: failing to compile one is a programmer error.
  MEMR1_CHECK(code != nullptr) << "bad tokenizer pattern " << pattern << " at " << offset;
  return code;
}

template <typename RuleT>
std::vector<RuleT> Build(std::initializer_list<std::pair<const char*, const char*>> rules) {
  std::vector<RuleT> out;
  for (const auto& [pattern, replacement] : rules) {
    out.push_back(RuleT{Compile(pattern), replacement});
  }
  return out;
}

// Applies every rule of `rules` to `text` in order, each globally (Python's re.sub).
template <typename RuleT>
void ApplyAll(const std::vector<RuleT>& rules, std::string* text) {
  std::string output;
  for (const RuleT& rule : rules) {
    PCRE2_SIZE length = text->size() * 2 + 64;
    for (int attempt = 0; attempt < 2; ++attempt) {
      output.resize(length);
      const int rc = pcre2_substitute(
          rule.code, reinterpret_cast<PCRE2_SPTR>(text->data()), text->size(), 0,
          PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH |
              PCRE2_SUBSTITUTE_UNSET_EMPTY | PCRE2_NO_UTF_CHECK,
          nullptr, nullptr, reinterpret_cast<PCRE2_SPTR>(rule.replacement.data()),
          rule.replacement.size(), reinterpret_cast<PCRE2_UCHAR*>(output.data()), &length);
      if (rc == PCRE2_ERROR_NOMEMORY) continue;  // `length` now holds the size needed
      MEMR1_CHECK(rc >= 0) << "pcre2_substitute failed with " << rc;
      output.resize(length);
      text->swap(output);
      break;
    }
  }
}
}  // namespace

WordTokenizer::WordTokenizer() {
  starting_quotes_ = Build<Rule>({
      {"([«“‘„]|[`]+)", " $1 "},
      {"^\"", "``"},
      {"(``)", " $1 "},
      {"([ \\(\\[{<])(\"|\\'{2})", "$1 `` "},
      {"(?i)(\\')(?!re|ve|ll|m|t|s|d|n)(\\w)\\b", "$1 $2"},
  });
  punctuation_ = Build<Rule>({
      {"([^\\.])(\\.)([\\]\\)}>\"\\'»”’ ]*)\\s*$", "$1 $2 $3 "},
      {"([:,])([^\\d])", " $1 $2"},
      {"([:,])$", " $1 "},
      {"\\.{2,}", " $0 "},
      {"[;@#$%&]", " $0 "},
      {"([^\\.])(\\.)([\\]\\)}>\"\\']*)\\s*$", "$1 $2$3 "},
      {"[?!]", " $0 "},
      {"([^'])' ", "$1 ' "},
      {"[*]", " $0 "},
  });
  brackets_ = Build<Rule>({
      {"[\\]\\[\\(\\)\\{\\}\\<\\>]", " $0 "},
      {"--", " -- "},
  });
  ending_quotes_ = Build<Rule>({
      {"([»”’])", " $1 "},
      {"''", " '' "},
      {"\"", " '' "},
      {"([^' ])('[sS]|'[mM]|'[dD]|') ", "$1 $2 "},
      {"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "$1 $2 "},
  });
  contractions_ = Build<Rule>({
      {"(?i)\\b(can)(?#X)(not)\\b", " $1 $2 "},
      {"(?i)\\b(d)(?#X)('ye)\\b", " $1 $2 "},
      {"(?i)\\b(gim)(?#X)(me)\\b", " $1 $2 "},
      {"(?i)\\b(gon)(?#X)(na)\\b", " $1 $2 "},
      {"(?i)\\b(got)(?#X)(ta)\\b", " $1 $2 "},
      {"(?i)\\b(lem)(?#X)(me)\\b", " $1 $2 "},
      {"(?i)\\b(more)(?#X)('n)\\b", " $1 $2 "},
      {"(?i)\\b(wan)(?#X)(na)(?=\\s)", " $1 $2 "},
      {"(?i) ('t)(?#X)(is)\\b", " $1 $2 "},
      {"(?i) ('t)(?#X)(was)\\b", " $1 $2 "},
  });
}

WordTokenizer::~WordTokenizer() {
  for (auto* rules : {&starting_quotes_, &punctuation_, &brackets_, &ending_quotes_,
                      &contractions_}) {
    for (Rule& rule : *rules) pcre2_code_free(rule.code);
  }
}

const WordTokenizer& WordTokenizer::Default() {
  static const WordTokenizer* tokenizer = new WordTokenizer();
  return *tokenizer;
}

std::vector<std::string> WordTokenizer::Tokenize(absl::string_view text) const {
  // Round-trip through code points so PCRE2 only ever sees valid UTF-8.
  std::string work = EncodeUtf8(DecodeUtf8(text));
  ApplyAll(starting_quotes_, &work);
  ApplyAll(punctuation_, &work);
  ApplyAll(brackets_, &work);
  work = " " + work + " ";
  ApplyAll(ending_quotes_, &work);
  ApplyAll(contractions_, &work);
  return PythonSplit(work);
}

}  // namespace memr1::eval
