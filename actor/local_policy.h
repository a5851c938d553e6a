#pragma once

// LocalPolicy: a TextPolicy over the llm/ engine and a Hugging Face model directory. It owns the
// tokenizer, the model, the chat encoder and a continuous-batching llm::Engine; Complete() runs
// one Engine::Generate over the whole batch, so completions carry the exact prompt ids, the
// sampled response ids (stop token included) and their behaviour log-probs.
//
// Sampling: temperature 0 is greedy; otherwise each request samples from its own random stream
// seeded by SamplingOptions::seed, so a completion depends on its prompt, options and seed, not
// on the batch it shares (up to the floating-point effects of batching). A completion ends at a
// stop id (the chat encoder's stop ids and the model config's eos ids) or after
// min(max_tokens, max_response_tokens) tokens (then `truncated`).
//
// Weights: SetWeights() copies a checkpoint into the model in place (a new policy version from
// the learner); the engine keeps working on the same model.
//
// Thread safety: not thread safe (the engine owns a KV cache); one thread at a time.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actor/chat_encoding.h"
#include "actor/text_policy.h"

namespace memr1::llm {
class CausalLM;
class Engine;
class SafetensorsCheckpoint;
class Tokenizer;
}  // namespace memr1::llm

namespace memr1::actor {

struct LocalPolicyOptions {
  // A Hugging Face model directory (config.json, *.safetensors, tokenizer files).
  std::string model_dir;
  // tokenizer.json or a directory holding it; empty means model_dir.
  std::string tokenizer_path;
  // "qwen2.5", "qwen3", "llama3", "llama3.1"; empty detects it from the tokenizer's template.
  std::string chat_family;
  bool enable_thinking = true;
  // A torch::Device string: "cpu", "cuda", "cuda:1".
  std::string device = "cpu";
  // Compute dtype: "float32" or "bfloat16" ("float16" on CUDA).
  std::string dtype = "float32";
  // Rows decoding together (KV-cache slots).
  int64_t max_batch_size = 16;
  // Longest prompt accepted; a longer one fails Complete naming the request.
  int64_t max_prompt_tokens = 4096;
  // Cap on generated tokens per completion (max_tokens is clamped to it). The engine's
  // max_seq_len is max_prompt_tokens + max_response_tokens.
  int64_t max_response_tokens = 2048;
  // Version reported for the weights in model_dir.
  int64_t version = 0;

  // InvalidArgument naming the field (empty model_dir, sizes < 1, negative version, unknown
  // dtype or device).
  absl::Status Validate() const;
};

class LocalPolicy : public TextPolicy {
 public:
  // Loads the tokenizer, the chat template and the model. Errors name the file (NotFound for a
  // missing model directory or tokenizer, InvalidArgument for a bad config or chat family).
  static absl::StatusOr<std::unique_ptr<LocalPolicy>> Create(const LocalPolicyOptions& options);
  ~LocalPolicy() override;

  // Errors (nothing is generated then): InvalidArgument naming the request index for invalid
  // sampling options or a prompt over max_prompt_tokens; the engine's errors annotated with
  // Describe().
  absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) override;
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override;
  int64_t max_prompt_tokens() const override { return options_.max_prompt_tokens; }
  bool has_tokens() const override { return true; }
  int64_t version() const override { return version_; }
  // "local:<model_dir> (v<version>)".
  std::string Describe() const override;

  // Copies `weights` into the model (llm::LoadWeights: every name and shape is checked before
  // the first copy) and reports `version` from then on. On error the model and the version are
  // unchanged.
  absl::Status SetWeights(const llm::SafetensorsCheckpoint& weights, int64_t version);

  const LocalPolicyOptions& options() const { return options_; }
  const ChatEncoder& encoder() const { return *encoder_; }
  // The model (e.g. to read its config); owned by the policy.
  const llm::CausalLM& model() const { return *model_; }

 private:
  LocalPolicy(LocalPolicyOptions options, std::unique_ptr<llm::Tokenizer> tokenizer,
              std::unique_ptr<ChatEncoder> encoder, std::unique_ptr<llm::CausalLM> model,
              std::unique_ptr<llm::Engine> engine);

  LocalPolicyOptions options_;
  // Declared in dependency order: the encoder points at the tokenizer, the engine at the model.
  std::unique_ptr<llm::Tokenizer> tokenizer_;
  std::unique_ptr<ChatEncoder> encoder_;
  std::unique_ptr<llm::CausalLM> model_;
  std::unique_ptr<llm::Engine> engine_;
  std::vector<int64_t> stop_ids_;  // encoder stop ids + model eos ids, sorted, unique
  int64_t version_;
};

}  // namespace memr1::actor
