#pragma once

// The PPO critic's value head: a linear map hidden_size -> 1 on the decoder's final hidden
// states. It is saved beside the model as `value_head.safetensors` holding "v_head.weight"
// [1, hidden_size] and "v_head.bias" [1] (TRL's AutoModelForCausalLMWithValueHead names), so a
// critic directory is a Hugging Face model directory plus one file.
//
// Thread safety: as a torch::nn::Module (concurrent Forward without autograd is fine).

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::llm {

inline constexpr char kValueHeadFile[] = "value_head.safetensors";

class ValueHead {
 public:
  // Weight ~ N(0, 1 / sqrt(hidden_size + 1)) from `seed` (drawn on the CPU), bias 0.
  static absl::StatusOr<std::unique_ptr<ValueHead>> Create(int64_t hidden_size,
                                                           c10::Device device,
                                                           c10::ScalarType dtype,
                                                           uint64_t seed = 0);
  // Reads `dir`/value_head.safetensors; InvalidArgument when shapes disagree with hidden_size.
  static absl::StatusOr<std::unique_ptr<ValueHead>> Load(const std::string& dir,
                                                         int64_t hidden_size, c10::Device device,
                                                         c10::ScalarType dtype);
  // Writes `dir`/value_head.safetensors (F32 on disk).
  absl::Status Save(const std::string& dir) const;

  // hidden [..., hidden_size] -> values [...] float32 (computed in the head's dtype).
  at::Tensor Forward(const at::Tensor& hidden) const;
  torch::nn::Module& module() { return *module_; }
  at::Tensor weight() const { return weight_; }
  at::Tensor bias() const { return bias_; }

 private:
  ValueHead() = default;
  std::shared_ptr<torch::nn::Module> module_;
  at::Tensor weight_;
  at::Tensor bias_;
};

}  // namespace memr1::llm
