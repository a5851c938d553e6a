#pragma once

// Per-request sampling parameters and the batched sampler behind the engine: every row of a
// batch of logits is sampled with its own parameters and its own random stream.
//
// Order of operations (as transformers' logits warpers): temperature, then top-k, then top-p
// (the smallest set of most likely tokens whose probability reaches top_p; the most likely token
// is always kept). A token outside the top-k / top-p set has probability zero and is never
// emitted. Greedy rows take the argmax.
//
// Reported log-prob: for a sampled row, log p(token) under the distribution it was drawn from
// (after temperature and truncation, renormalised); for a greedy row, log p(token) under the
// model's own distribution (log_softmax of the raw logits), the value scoring would give.
//
// Random streams: each request owns a SamplerRng seeded from its `seed`, so a request's tokens
// depend only on its prompt, parameters and seed, not on which other requests share its batch.
//
// Thread safety: SampleTokens is a pure function of its arguments; a SamplerRng is not shared.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::llm {

struct SamplingParams {
  bool greedy = false;
  double temperature = 1.0;   // > 0 unless greedy
  int64_t top_k = 0;          // 0 = no top-k
  double top_p = 1.0;         // in (0, 1]; 1 = no top-p
  uint64_t seed = 0;
  int64_t max_new_tokens = 16;
  // Generation stops after emitting any of these (the stop token is kept in the output).
  std::vector<int64_t> stop_token_ids;
  // Generation stops once the decoded generated text contains any of these (needs the
  // engine's decode callback; the completing token is kept).
  std::vector<std::string> stop_strings;

  // InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

// A request's random stream (64-bit Mersenne Twister; uniform doubles from its top 53 bits, so
// streams are identical on every platform).
class SamplerRng {
 public:
  explicit SamplerRng(uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  std::mt19937_64 engine_;
};

struct SampledToken {
  int64_t id = 0;
  float logprob = 0.0f;
};

// Samples one token per row of `logits` ([B, V], any float dtype, any device) with row i's
// `params[i]` and `rngs[i]` (both of size B; rngs[i] may be null for greedy rows).
absl::StatusOr<std::vector<SampledToken>> SampleTokens(const at::Tensor& logits,
                                                       const std::vector<const SamplingParams*>& params,
                                                       const std::vector<SamplerRng*>& rngs);

}  // namespace memr1::llm
