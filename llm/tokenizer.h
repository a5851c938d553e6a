#pragma once

// A Tokenizer turns text into the token ids a model was trained with, and back, exactly as the
// Hugging Face `tokenizers` library does for the same `tokenizer.json`.
//
// Supported tokenizer.json features (anything else is an InvalidArgument/Unimplemented error
// at Load() that names the feature, never a silently different tokenization):
//   model:          BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; ignore_merges;
//                   no dropout, unk_token, byte_fallback or subword prefixes/suffixes)
//   normalizer:     null, NFC, NFD, NFKC, NFKD, Sequence of these
//   pre_tokenizer:  Split (Regex pattern, behaviors Isolated/Removed/MergedWithPrevious/
//                   MergedWithNext/Contiguous, invert=false), ByteLevel (add_prefix_space,
//                   use_regex), Sequence of these
//   post_processor: null, ByteLevel, TemplateProcessing (single sequence), Sequence of these
//   decoder:        null or ByteLevel
//   added_tokens:   special and not, normalized or not, lstrip/rstrip; split out of the text
//                   before normalization/BPE (leftmost-longest), as HF does
// A model directory may also hold tokenizer_config.json, which supplies bos/eos/pad tokens,
// `clean_up_tokenization_spaces` and the chat template (see chat_template.h).
//
// Thread safety: a loaded Tokenizer is immutable apart from an internal, internally
// synchronized merge cache; all const methods may be called concurrently.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace memr1::llm {

namespace internal {
struct TokenizerImpl;
}  // namespace internal

class Tokenizer {
 public:
  // Loads `path`: a tokenizer.json file, or a directory holding tokenizer.json and optionally
  // tokenizer_config.json (a tokenizer_config.json next to a tokenizer.json file is read too).
  // Errors: NotFound for a missing file, InvalidArgument for malformed JSON or inconsistent
  // vocabularies, Unimplemented for a tokenizer.json feature this class does not support
  // (the message names it, e.g. "pre_tokenizer type 'Metaspace' is not supported").
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& path);

  // Same from in-memory JSON texts; `config_json` may be empty (no tokenizer_config.json).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view tokenizer_json,
                                                              std::string_view config_json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Encodes `text` (UTF-8). Added tokens (special or not) in the text are always recognized;
  // `add_special_tokens` only controls the post-processor (e.g. Llama-3's leading BOS), like
  // transformers' `encode(text, add_special_tokens=...)`. InvalidArgument for invalid UTF-8
  // (the message gives the byte offset).
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                              bool add_special_tokens) const;

  // Encodes every text on up to `num_threads` threads (0 = hardware concurrency); result i is
  // Encode(texts[i]). Blocks until all are done. The first error (lowest index) is returned.
  absl::StatusOr<std::vector<std::vector<int32_t>>> EncodeBatch(
      absl::Span<const std::string> texts, bool add_special_tokens, int num_threads = 0) const;

  // Decodes ids to text as transformers' `decode` does: byte-level decoding with invalid UTF-8
  // replaced by U+FFFD, special added tokens dropped when `skip_special_tokens`, and the
  // `clean_up_tokenization_spaces` rewrite when tokenizer_config.json asks for it.
  // InvalidArgument for an id outside [0, vocab_size()).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     bool skip_special_tokens) const;

  // Number of ids: one past the largest id of the model vocabulary and the added tokens.
  int32_t vocab_size() const;

  // The id of a token string (model vocabulary or added token), if any.
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token string of an id (byte-level form for model tokens), if any.
  std::optional<std::string> IdToToken(int32_t id) const;
  // Whether `id` is an added token marked special.
  bool IsSpecialId(int32_t id) const;

  // Special tokens from tokenizer_config.json (bos_token, eos_token, pad_token); for a bare
  // tokenizer.json, bos is taken from the post-processor template when it has one.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  // Token strings of the above ("" when absent).
  const std::string& bos_token() const;
  const std::string& eos_token() const;

  // The `chat_template` string of tokenizer_config.json ("" when absent).
  const std::string& chat_template_text() const;

  // Directory or file this tokenizer was loaded from ("" for FromJson).
  const std::string& source() const;

 private:
  explicit Tokenizer(std::unique_ptr<internal::TokenizerImpl> impl);
  std::unique_ptr<internal::TokenizerImpl> impl_;
};

}  // namespace memr1::llm
