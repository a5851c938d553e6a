#pragma once

// Pre-tokenization: splitting normalized text into the words that BPE encodes one by one,
// as the Hugging Face `Split` and `ByteLevel` pre-tokenizers do.
//
// Thread safety: Regex and PreTokenizer are immutable after construction; their const methods
// may be called concurrently (match scratch space is per thread).

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::llm {

// A PCRE2 pattern compiled with UTF, UCP (so \s, \w, \d and POSIX classes are Unicode-aware,
// like Oniguruma's in HF tokenizers) and JIT.
class Regex {
 public:
  // `literal` compiles the text as a literal string (HF's {"String": ...} patterns).
  // InvalidArgument with PCRE2's message and offset for a bad pattern.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern,
                                                        bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [begin, end) byte ranges of the successive non-overlapping matches in `text`
  // (valid UTF-8, not re-checked). An empty match advances by one code point.
  absl::Status FindAll(std::string_view text,
                       std::vector<std::pair<size_t, size_t>>* matches) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(void* code, std::string pattern) : code_(code), pattern_(std::move(pattern)) {}
  void* code_;  // pcre2_code_8*, owned
  std::string pattern_;
};

// GPT-2's pre-tokenizer regex, used by ByteLevel with use_regex=true.
extern const char kGpt2SplitPattern[];

// A pipeline of Split / ByteLevel steps parsed from tokenizer.json's "pre_tokenizer".
class PreTokenizer {
 public:
  // Parses a pre_tokenizer JSON object (or null: the text is one word). Unimplemented names
  // the unsupported type or option.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& json);
  ~PreTokenizer();

  // Splits `text` into words, appended to `words`. Words are views into `text` or into
  // strings appended to `arena` (for add_prefix_space), which must outlive their use.
  absl::Status Split(std::string_view text, std::deque<std::string>* arena,
                     std::vector<std::string_view>* words) const;

  // Whether a ByteLevel step is present (BPE then works on the byte-level alphabet).
  bool byte_level() const { return byte_level_; }

 private:
  struct Step;
  PreTokenizer();
  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace memr1::llm
