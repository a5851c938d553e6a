#include "actor/chat_encoding.h"

#include <algorithm>
#include <string>

#include "common/status_macros.h"

namespace memr1::actor {

absl::StatusOr<ChatEncoder> ChatEncoder::Create(const llm::Tokenizer* tokenizer,
                                                std::string_view family, bool enable_thinking) {
  MEMR1_ASSIGN_OR_RETURN(llm::ChatTemplate chat,
                         llm::ChatTemplate::ForTokenizer(*tokenizer, family));
  std::vector<int32_t> stop_ids;
  if (tokenizer->eos_id().has_value()) stop_ids.push_back(*tokenizer->eos_id());
  for (const char* token : {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>"}) {
    if (std::optional<int32_t> id = tokenizer->TokenToId(token)) stop_ids.push_back(*id);
  }
  std::sort(stop_ids.begin(), stop_ids.end());
  stop_ids.erase(std::unique(stop_ids.begin(), stop_ids.end()), stop_ids.end());
  return ChatEncoder(tokenizer, std::move(chat), enable_thinking, std::move(stop_ids));
}

absl::StatusOr<std::vector<int32_t>> ChatEncoder::EncodePrompt(
    absl::Span<const llm::ChatMessage> messages) const {
  llm::ChatTemplateOptions options;
  options.add_generation_prompt = true;
  options.enable_thinking = enable_thinking_;
  MEMR1_ASSIGN_OR_RETURN(const std::string text, chat_.Apply(messages, options));
  // The template writes the special tokens (bos, headers) itself.
  return tokenizer_->Encode(text, /*add_special_tokens=*/false);
}

}  // namespace memr1::actor
