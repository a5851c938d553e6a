#pragma once

// A tiny token policy for the data-parallel and checkpoint suites: features [B, T, 8] ->
// tanh MLP -> logits over 5 actions. Deterministic given the seed.

#include <torch/torch.h>

#include <vector>

namespace memr1::learner::testing {

struct ToyPolicyImpl : torch::nn::Module {
  explicit ToyPolicyImpl(int64_t seed) {
    torch::manual_seed(seed);
    hidden = register_module("hidden", torch::nn::Linear(8, 16));
    out = register_module("out", torch::nn::Linear(16, 5));
  }
  // Log-probs of `actions` [B, T] given `features` [B, T, 8].
  torch::Tensor LogProbs(const torch::Tensor& features, const torch::Tensor& actions) {
    auto logits = out(torch::tanh(hidden(features)));
    return torch::log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1);
  }
  torch::nn::Linear hidden{nullptr};
  torch::nn::Linear out{nullptr};
};
TORCH_MODULE(ToyPolicy);

// A deterministic global batch of `sequences` sequences of up to 6 tokens.
struct ToyBatch {
  torch::Tensor features;    // [N, 6, 8]
  torch::Tensor actions;     // [N, 6]
  torch::Tensor advantages;  // [N, 6]
  torch::Tensor mask;        // [N, 6], varying lengths
};

inline ToyBatch MakeToyBatch(int64_t sequences, int64_t seed) {
  auto gen = torch::make_generator<torch::CPUGeneratorImpl>(seed);
  ToyBatch batch;
  batch.features = torch::randn({sequences, 6, 8}, gen);
  batch.actions = torch::randint(0, 5, {sequences, 6}, gen);
  batch.advantages = torch::randn({sequences, 6}, gen);
  auto lengths = torch::randint(2, 7, {sequences, 1}, gen);
  batch.mask = (torch::arange(6).unsqueeze(0) < lengths).to(torch::kFloat);
  return batch;
}

inline ToyBatch Slice(const ToyBatch& b, int64_t begin, int64_t count) {
  return ToyBatch{b.features.narrow(0, begin, count), b.actions.narrow(0, begin, count),
                  b.advantages.narrow(0, begin, count), b.mask.narrow(0, begin, count)};
}

}  // namespace memr1::learner::testing
