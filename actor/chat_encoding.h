#pragma once

// ChatEncoder: chat messages -> the prompt ids a model is fed (the family's chat template with
// the generation prompt, then the tokenizer), and the ids that end an assistant turn.
//
// Thread safety: immutable; the tokenizer must outlive the encoder.

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "llm/chat_template.h"
#include "llm/tokenizer.h"

namespace memr1::actor {

class ChatEncoder {
 public:
  // `family` overrides the tokenizer's chat_template detection when non-empty (see
  // llm::ChatTemplate::ForTokenizer). `tokenizer` is not owned.
  static absl::StatusOr<ChatEncoder> Create(const llm::Tokenizer* tokenizer,
                                            std::string_view family, bool enable_thinking);

  // The prompt ids of `messages` with the assistant generation prompt appended.
  absl::StatusOr<std::vector<int32_t>> EncodePrompt(
      absl::Span<const llm::ChatMessage> messages) const;

  // Ids that end an assistant turn: the tokenizer's eos and, when the vocabulary has them,
  // "<|im_end|>", "<|eot_id|>", "<|end_of_text|>" and "<|endoftext|>"; sorted, no duplicates.
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  const llm::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  ChatEncoder(const llm::Tokenizer* tokenizer, llm::ChatTemplate chat, bool enable_thinking,
              std::vector<int32_t> stop_ids)
      : tokenizer_(tokenizer),
        chat_(std::move(chat)),
        enable_thinking_(enable_thinking),
        stop_ids_(std::move(stop_ids)) {}

  const llm::Tokenizer* tokenizer_;
  llm::ChatTemplate chat_;
  bool enable_thinking_;
  std::vector<int32_t> stop_ids_;
};

}  // namespace memr1::actor
