#pragma once

// Rotary position embedding frequencies (the Hugging Face `rope_init_fn`s of the supported
// families). Pure arithmetic, no LibTorch, so tests can check them against hand computation.

#include <vector>

#include "llm/model_config.h"

namespace memr1::llm {

// The head_dim / 2 inverse frequencies theta^(-2i/head_dim), rescaled by Llama-3.1's
// "llama3" rule when config.rope_scaling is set: wavelengths longer than
// original_max_position_embeddings / low_freq_factor are divided by `factor`, shorter than
// original_max_position_embeddings / high_freq_factor kept, and the band between interpolated
// smoothly. Computed in double; the model casts them to float32 as transformers does.
std::vector<double> RopeInverseFrequencies(const ModelConfig& config);

}  // namespace memr1::llm
