#pragma once

// Random initialisation of a CausalLM as transformers initialises these families: linear and
// embedding weights ~ N(0, initializer_range), biases zero, norm weights one. Deterministic in
// the seed and independent of the device (values are drawn on the CPU).

#include <cstdint>

#include "absl/status/status.h"
#include "llm/decoder.h"

namespace memr1::llm {

struct InitOptions {
  uint64_t seed = 0;
  // Standard deviation of weights; <= 0 means config.initializer_range.
  double std = 0.0;
  // Tests only: when > 0, biases ~ N(0, perturb) and norm weights ~ 1 + N(0, perturb), so
  // that numerics tests notice a bias or a norm weight that is dropped.
  double perturb = 0.0;
};

absl::Status InitializeRandom(CausalLM* model, const InitOptions& options);

}  // namespace memr1::llm
