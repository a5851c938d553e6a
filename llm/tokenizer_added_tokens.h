#pragma once

// Added tokens of a tokenizer.json ("added_tokens"): strings that are cut out of the text
// before normalization and BPE and map straight to their ids, as HF's AddedVocabulary does.
// Matching is leftmost-longest over all tokens of one pass; `lstrip`/`rstrip` tokens also
// swallow the whitespace on that side.
//
// Thread safety: immutable after construction.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"

namespace memr1::llm {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched against normalized text (else against the raw text)
  bool lstrip = false;
  bool rstrip = false;
};

// Parses tokenizer.json's "added_tokens" array. Unimplemented for single_word=true.
absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& json);

// One pass of added-token matching (the raw-text pass or the normalized-text pass).
class AddedTokenMatcher {
 public:
  struct Segment {
    int32_t id;             // the token's id, or -1 for plain text
    std::string_view text;  // view into the matched input
  };

  // Takes the tokens with `normalized == for_normalized_text`.
  AddedTokenMatcher(const std::vector<AddedToken>& tokens, bool for_normalized_text);

  // Splits `text` into alternating plain-text and token segments (empty text is omitted).
  void Split(std::string_view text, std::vector<Segment>* out) const;

  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t token = -1;  // index into tokens_ of the token ending here
  };
  // Index into tokens_ and length of the longest token starting at text[pos], or -1.
  int32_t LongestAt(std::string_view text, size_t pos, size_t* length) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
};

}  // namespace memr1::llm
