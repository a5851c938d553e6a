#include "actor/scripted_policy.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

std::vector<int32_t> Bytes(absl::string_view text) {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ScriptedPolicy::PromptIds(
    absl::Span<const llm::ChatMessage> messages) const {
  if (encoder_ != nullptr) return encoder_->EncodePrompt(messages);
  std::string text;
  for (const llm::ChatMessage& message : messages) {
    absl::StrAppend(&text, message.role, ": ", message.content, "\n");
  }
  return Bytes(text);
}

absl::StatusOr<int64_t> ScriptedPolicy::CountPromptTokens(
    absl::Span<const llm::ChatMessage> messages) const {
  MEMR1_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, PromptIds(messages));
  return static_cast<int64_t>(ids.size());
}

absl::StatusOr<std::vector<Completion>> ScriptedPolicy::Complete(
    absl::Span<const PolicyRequest> requests) {
  std::vector<Completion> completions;
  completions.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const PolicyRequest& request = requests[i];
    MEMR1_RETURN_IF_ERROR(request.sampling.Validate());
    absl::StatusOr<std::string> text = script_(request);
    if (!text.ok()) {
      return Annotate(text.status(), absl::StrCat("scripted policy, request ", i));
    }
    Completion completion;
    completion.text = *std::move(text);
    MEMR1_ASSIGN_OR_RETURN(completion.prompt_ids, PromptIds(request.messages));
    if (encoder_ != nullptr) {
      MEMR1_ASSIGN_OR_RETURN(completion.response_ids,
                             encoder_->tokenizer().Encode(completion.text,
                                                          /*add_special_tokens=*/false));
      if (!encoder_->stop_ids().empty()) {
        completion.response_ids.push_back(encoder_->stop_ids().front());
      }
    } else {
      completion.response_ids = Bytes(completion.text);
    }
    completion.logprobs.assign(completion.response_ids.size(), 0.0f);
    completions.push_back(std::move(completion));
  }
  requests_.insert(requests_.end(), requests.begin(), requests.end());
  batch_sizes_.push_back(requests.size());
  return completions;
}

std::string ScriptedPolicy::Describe() const {
  return absl::StrCat("scripted (v", version_, ")");
}

}  // namespace memr1::actor
