#pragma once

// Chat formatting: the text a model family's Jinja `chat_template` renders for a list of
// messages, reproduced in C++ for the families memr1 trains (no Jinja interpreter).
//
// How a model directory selects its family: the `chat_template` string of its
// tokenizer_config.json is classified by its markers (DetectChatFamily):
//   "<|im_start|>" and "<think>"                         -> kQwen3
//   "<|im_start|>" and "You are Qwen, created by Alibaba" -> kQwen25 (ChatML + default system)
//   "<|start_header_id|>" and "Cutting Knowledge Date"    -> kLlama31 (default system block)
//   "<|start_header_id|>" otherwise                       -> kLlama3 (plain header format)
// Anything else is an Unimplemented error naming the template; a job config may instead name
// the family explicitly (TokenizerConfig.chat_family).
//
// Thread safety: a ChatTemplate is immutable; Apply may be called concurrently.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace memr1::llm {

class Tokenizer;

enum class ChatFamily { kQwen25, kQwen3, kLlama3, kLlama31 };

// "qwen2.5", "qwen3", "llama3", "llama3.1".
std::string_view ChatFamilyName(ChatFamily family);
// Inverse of ChatFamilyName; InvalidArgument listing the names otherwise.
absl::StatusOr<ChatFamily> ParseChatFamily(std::string_view name);
// The Jinja source of the family's published template, for families whose template memr1
// writes itself (kQwen25: the BPE trainer's tokenizer_config.json; kLlama31); "" otherwise.
std::string_view ChatTemplateSource(ChatFamily family);
// Classifies a Jinja chat_template text as described above.
absl::StatusOr<ChatFamily> DetectChatFamily(std::string_view template_text);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", or "tool"
  std::string content;
};

struct ChatTemplateOptions {
  // Appends the header of an assistant turn so the model continues as the assistant.
  bool add_generation_prompt = false;
  // Qwen-3 only: false renders an empty think block after the generation prompt
  // (the template's `enable_thinking=False`).
  bool enable_thinking = true;
};

class ChatTemplate {
 public:
  // `bos_token` is the text the Llama templates start with ("<|begin_of_text|>").
  ChatTemplate(ChatFamily family, std::string bos_token);

  // The family of `tokenizer`'s chat_template (see DetectChatFamily); FailedPrecondition when
  // the tokenizer has no chat_template.
  static absl::StatusOr<ChatTemplate> ForTokenizer(const Tokenizer& tokenizer);
  // As above, but a non-empty `family_name` (ParseChatFamily; TokenizerConfig.chat_family)
  // overrides detection, and the tokenizer then needs no chat_template.
  static absl::StatusOr<ChatTemplate> ForTokenizer(const Tokenizer& tokenizer,
                                                   std::string_view family_name);

  // Renders `messages` exactly as the family's chat_template does under transformers'
  // apply_chat_template(..., tokenize=False). InvalidArgument for an empty list, an unknown
  // role, or a role the family's template cannot render (message index in the error).
  absl::StatusOr<std::string> Apply(absl::Span<const ChatMessage> messages,
                                    const ChatTemplateOptions& options) const;

  ChatFamily family() const { return family_; }

 private:
  ChatFamily family_;
  std::string bos_token_;
};

// Convenience form used by callers that only toggle the generation prompt.
inline absl::StatusOr<std::string> ApplyChatTemplate(const ChatTemplate& chat_template,
                                                     absl::Span<const ChatMessage> messages,
                                                     bool add_generation_prompt) {
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  return chat_template.Apply(messages, options);
}

}  // namespace memr1::llm
