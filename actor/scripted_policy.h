#pragma once

// ScriptedPolicy: a TextPolicy whose completions come from a function of the request. Tests use
// it for deterministic agent outputs; the quickstart uses it as the scripted teacher whose
// demonstrations warm-start the tiny model.
//
// Token ids: with a ChatEncoder, prompt_ids are the encoder's prompt ids and response_ids the
// tokenizer's ids of the text followed by the first stop id (a demonstration in the model's
// vocabulary); without one, ids are UTF-8 bytes (vocabulary 256) of "role: content\n" lines and
// of the text. Log-probs are 0 (the script is deterministic).
//
// Thread safety: not thread safe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "actor/chat_encoding.h"
#include "actor/text_policy.h"

namespace memr1::actor {

// Returns the completion text of `request`; an error fails the whole Complete call.
using Script = std::function<absl::StatusOr<std::string>(const PolicyRequest& request)>;

class ScriptedPolicy : public TextPolicy {
 public:
  // `encoder` (not owned, may be null) must outlive the policy.
  explicit ScriptedPolicy(Script script, const ChatEncoder* encoder = nullptr,
                          int64_t version = 0)
      : script_(std::move(script)), encoder_(encoder), version_(version) {}

  absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) override;
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override;
  int64_t max_prompt_tokens() const override { return max_prompt_tokens_; }
  bool has_tokens() const override { return true; }
  int64_t version() const override { return version_; }
  std::string Describe() const override;

  void set_version(int64_t version) { version_ = version; }
  // Makes CountPromptTokens-based budgets testable; 0 = unknown.
  void set_max_prompt_tokens(int64_t tokens) { max_prompt_tokens_ = tokens; }
  // Every request seen, in order (tests inspect prompts).
  const std::vector<PolicyRequest>& requests() const { return requests_; }
  // Requests per Complete call, in order (tests check batching).
  const std::vector<size_t>& batch_sizes() const { return batch_sizes_; }

 private:
  absl::StatusOr<std::vector<int32_t>> PromptIds(absl::Span<const llm::ChatMessage> messages) const;

  Script script_;
  const ChatEncoder* encoder_;
  int64_t version_;
  int64_t max_prompt_tokens_ = 0;
  std::vector<PolicyRequest> requests_;
  std::vector<size_t> batch_sizes_;
};

}  // namespace memr1::actor
