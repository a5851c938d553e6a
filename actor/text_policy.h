#pragma once

// TextPolicy: the model behind an agent. The agents (fact extraction, Memory Manager, Answer
// Agent) only build chat prompts and parse completions; a TextPolicy turns a batch of chat
// prompts into completions. Implementations:
//   LocalPolicy    (local_policy.h)   the llm/ engine over a Hugging Face model directory; gives
//                                      token ids and behaviour log-probs (trajectories need them)
//   OpenAiPolicy   (openai_policy.h)  any OpenAI-compatible chat-completions server; text, and
//                                      log-probs when the server returns them, but no token ids
//   ScriptedPolicy (scripted_policy.h) a function of the prompt: tests and scripted teachers
//
// Token-in/token-out: a completion's `prompt_ids` are exactly the ids the model was fed and
// `response_ids` exactly the ids it produced (including the stop token), so a trajectory made
// from them trains on what was sampled; nothing is re-tokenized.
//
// Thread safety: implementations say; callers assume a TextPolicy is used by one thread at a
// time unless told otherwise.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "llm/chat_template.h"

namespace memr1::actor {

struct SamplingOptions {
  // 0 means greedy decoding.
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0 = off
  int64_t max_tokens = 256;
  // The request's random stream: same prompt, options and seed give the same completion.
  uint64_t seed = 0;

  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

struct PolicyRequest {
  std::vector<llm::ChatMessage> messages;
  SamplingOptions sampling;
};

struct Completion {
  std::string text;  // the generated text, special tokens removed
  // Empty when the policy has no token ids (has_tokens() is false).
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> response_ids;
  // One per response token (behaviour log-prob at the sampling temperature); empty when the
  // policy cannot report them.
  std::vector<float> logprobs;
  // Stopped by max_tokens rather than by a stop token.
  bool truncated = false;
};

class TextPolicy {
 public:
  virtual ~TextPolicy() = default;

  // One completion per request, in order. Blocks. Errors name the request index and the
  // backend (a prompt over the policy's context, a server that fails after retries); no partial
  // result is returned.
  virtual absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) = 0;

  // Tokens the prompt of `messages` takes (chat template applied, generation prompt added).
  // Unimplemented for policies that cannot count (OpenAiPolicy).
  virtual absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const = 0;
  // The longest prompt the policy accepts, in tokens; 0 when unknown.
  virtual int64_t max_prompt_tokens() const = 0;

  // True when completions carry prompt_ids, response_ids and logprobs.
  virtual bool has_tokens() const = 0;
  // The policy version of the weights in use (0 = the initial weights).
  virtual int64_t version() const = 0;
  // For logs and reports: "local:/models/qwen (v3)", "openai:http://host/v1 model=x".
  virtual std::string Describe() const = 0;
};

}  // namespace memr1::actor
