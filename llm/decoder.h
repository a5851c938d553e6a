#pragma once

// The decoder-only transformer of Qwen2, Qwen3 and Llama in LibTorch, with the Hugging Face
// semantics: token embeddings, N x (RMSNorm -> GQA self-attention with RoPE [+ q/k biases]
// [+ per-head q/k RMSNorm] -> residual -> RMSNorm -> SwiGLU MLP -> residual), final RMSNorm,
// LM head (tied to the embeddings or not). Softmax and RMSNorm statistics are computed in
// float32 whatever the compute dtype, as transformers does.
//
// Parameters live in a torch::nn::Module tree whose named_parameters() are exactly the Hugging
// Face tensor names ("model.layers.0.self_attn.q_proj.weight", ...), so optimizers, all-reduce
// and checkpoint I/O all address them the same way.
//
// Attention: LibTorch 1.x uses matmul + float32 softmax (the tested reference); LibTorch 2.x
// builds use at::scaled_dot_product_attention with the same mask (selected at compile time).
//
// Thread safety: Forward may run concurrently on one model only without a KV cache and
// without training (no autograd), since LibTorch ops are themselves thread safe; parameter
// updates need external synchronisation.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llm/kv_cache.h"
#include "llm/model_config.h"

namespace memr1::llm {

namespace internal {
struct CausalLMModule;
}  // namespace internal

// One forward pass over a batch of B rows of T tokens.
struct DecoderInput {
  // [B, T] int64 token ids.
  at::Tensor input_ids;
  // [B, T] bool or integer: true/1 marks a real token, false/0 padding. Undefined = all real.
  // Without a cache any padding pattern works (left padding for prompts, right padding for
  // scoring): a token attends to the real tokens at or before its index. With a cache the real
  // tokens of each row must come first (right padding).
  at::Tensor attention_mask;
  // [B, T] int64 RoPE positions. Undefined: with a cache, the slot's length + 0..T-1; without,
  // the number of real tokens before each token (cumsum(mask) - 1), so left padding works.
  at::Tensor positions;
  // Incremental decoding: the real tokens are appended to the cache slots in `cache_slots`
  // ([B] int64 on any device, undefined = slots 0..B-1) and attend to everything cached there.
  // Not owned; must outlive the call.
  KvCache* cache = nullptr;
  at::Tensor cache_slots;
};

class CausalLM {
 public:
  // A model with `config`'s shapes on `device` in `dtype` (kFloat or kBFloat16; kHalf is allowed
  // on CUDA). Linear weights are zero and norm weights one until loaded or initialised
  // (LoadCausalLM, InitializeRandom).
  static absl::StatusOr<std::unique_ptr<CausalLM>> Create(const ModelConfig& config,
                                                          c10::Device device,
                                                          c10::ScalarType dtype);
  ~CausalLM();

  const ModelConfig& config() const { return config_; }
  c10::Device device() const { return device_; }
  c10::ScalarType dtype() const { return dtype_; }

  // The module tree (for optimizers: module().parameters(); for train()/eval()).
  torch::nn::Module& module();
  // (HF name, parameter) in checkpoint order. With tied embeddings "lm_head.weight" is absent,
  // as in transformers' saved files.
  std::vector<std::pair<std::string, at::Tensor>> NamedParameters() const;
  // Total number of scalars in NamedParameters().
  int64_t NumParameters() const;

  // Recompute each decoder layer's activations during backward instead of storing them
  // (applies to forwards without a cache while grad mode is on). Gradients are unchanged.
  void set_activation_checkpointing(bool enabled) { activation_checkpointing_ = enabled; }
  bool activation_checkpointing() const { return activation_checkpointing_; }

  // Final hidden states (after the last RMSNorm): [B, T, hidden_size] in the compute dtype,
  // differentiable when grad mode is on. Errors: InvalidArgument for malformed shapes, ids out
  // of the vocabulary, or a cache that would overflow (nothing is appended then).
  absl::StatusOr<at::Tensor> Hidden(const DecoderInput& input);
  // Logits [B, T, vocab_size] in the compute dtype.
  absl::StatusOr<at::Tensor> Logits(const DecoderInput& input);
  // The LM head on hidden states [..., hidden_size] -> [..., vocab_size].
  at::Tensor LmHead(const at::Tensor& hidden) const;

 private:
  CausalLM(const ModelConfig& config, c10::Device device, c10::ScalarType dtype);

  ModelConfig config_;
  c10::Device device_;
  c10::ScalarType dtype_;
  bool activation_checkpointing_ = false;
  at::Tensor inv_freq_;  // [head_dim / 2] float32 on device
  std::shared_ptr<internal::CausalLMModule> module_;
};

// Parses "float32" | "bfloat16" | "float16" (also "f32", "bf16", "fp16").
absl::StatusOr<c10::ScalarType> ParseDtype(const std::string& name);
// Parses a torch::Device string ("cpu", "cuda", "cuda:1").
absl::StatusOr<c10::Device> ParseDevice(const std::string& name);

}  // namespace memr1::llm
