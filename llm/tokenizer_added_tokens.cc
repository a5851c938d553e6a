#include "llm/tokenizer_added_tokens.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "llm/unicode.h"

namespace memr1::llm {

namespace {

// Rust's char::is_whitespace (the White_Space property), which HF uses for lstrip/rstrip.
bool IsWhiteSpace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t PreviousCodePointStart(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

}  // namespace

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& json) {
  std::vector<AddedToken> tokens;
  if (json.is_null()) return tokens;
  if (!json.is_array()) return absl::InvalidArgumentError("added_tokens: expected an array");
  for (size_t i = 0; i < json.size(); ++i) {
    const nlohmann::json& entry = json[i];
    if (!entry.is_object() || !entry.contains("id") || !entry.contains("content") ||
        !entry.at("id").is_number_integer() || !entry.at("content").is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("added_tokens[", i, "]: needs an integer id and a string content"));
    }
    AddedToken token;
    token.id = entry.at("id").get<int32_t>();
    token.content = entry.at("content").get<std::string>();
    token.special = entry.value("special", false);
    token.normalized = entry.value("normalized", !token.special);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    if (token.id < 0) {
      return absl::InvalidArgumentError(absl::StrCat("added_tokens[", i, "]: negative id"));
    }
    if (token.content.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("added_tokens[", i, "]: empty content"));
    }
    if (entry.value("single_word", false)) {
      return absl::UnimplementedError(absl::StrCat(
          "added_tokens[", i, "] ('", token.content, "'): single_word=true is not supported"));
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens,
                                     bool for_normalized_text) {
  nodes_.emplace_back();
  for (const AddedToken& token : tokens) {
    if (token.normalized != for_normalized_text) continue;
    const int32_t index = static_cast<int32_t>(tokens_.size());
    tokens_.push_back(token);
    int32_t node = 0;
    for (const char c : token.content) {
      const unsigned char byte = static_cast<unsigned char>(c);
      auto& children = nodes_[node].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, 0),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        const int32_t child = static_cast<int32_t>(nodes_.size());
        children.insert(it, {byte, child});
        nodes_.emplace_back();
        node = child;
      }
    }
    // A repeated content keeps its first entry.
    if (nodes_[node].token < 0) nodes_[node].token = index;
    first_byte_[static_cast<unsigned char>(token.content[0])] = true;
  }
}

int32_t AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, size_t* length) const {
  int32_t node = 0;
  int32_t best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, 0),
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      *length = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* out) const {
  if (empty()) {
    if (!text.empty()) out->push_back(Segment{-1, text});
    return;
  }
  size_t emitted = 0;  // text before this offset is already in `out`
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t length = 0;
    const int32_t index = LongestAt(text, pos, &length);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t begin = pos;
    size_t end = pos + length;
    if (token.lstrip) {
      while (begin > emitted) {
        const size_t start = PreviousCodePointStart(text, begin);
        size_t probe = start;
        if (!IsWhiteSpace(NextCodePoint(text, &probe))) break;
        begin = start;
      }
    }
    if (token.rstrip) {
      while (end < text.size()) {
        size_t probe = end;
        if (!IsWhiteSpace(NextCodePoint(text, &probe))) break;
        end = probe;
      }
    }
    if (begin > emitted) out->push_back(Segment{-1, text.substr(emitted, begin - emitted)});
    out->push_back(Segment{token.id, text.substr(begin, end - begin)});
    emitted = end;
    pos = end;
  }
  if (emitted < text.size()) out->push_back(Segment{-1, text.substr(emitted)});
}

}  // namespace memr1::llm
