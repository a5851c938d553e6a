#pragma once

// The rollout engine: generates completions for a list of requests with a preallocated KV cache
// and continuous batching. Up to `max_batch_size` requests decode together, one token per step;
// when a row finishes (stop token, stop string or max_new_tokens) its cache slot goes to the next
// queued request at once (that request's prompt is prefilled, then it joins the decode steps),
// so a batch with a long tail does not leave the engine idle.
//
// Each request has its own SamplingParams and random stream (see sampler.h), so its output does
// not depend on batch size or on which requests it shares steps with (up to the floating-point
// effects of batching, which are tested to stay within tolerance).
//
// Thread safety: an Engine is not thread safe (it owns the KV cache); use one per thread. The
// model must outlive the engine and must not be changed during Generate.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llm/decoder.h"
#include "llm/kv_cache.h"
#include "llm/sampler.h"

namespace memr1::llm {

struct EngineOptions {
  // Rows decoding together (KV cache slots).
  int64_t max_batch_size = 8;
  // Longest prompt + completion the engine accepts. The cache grows to what a Generate call
  // needs, up to this.
  int64_t max_seq_len = 4096;

  absl::Status Validate() const;
};

struct GenerationRequest {
  std::vector<int64_t> prompt;  // non-empty
  SamplingParams params;
};

enum class FinishReason { kStop, kLength };
// "stop" | "length".
std::string FinishReasonName(FinishReason reason);

struct GenerationResult {
  std::vector<int64_t> ids;     // generated tokens only
  std::vector<float> logprobs;  // one per generated token (see sampler.h)
  FinishReason finish_reason = FinishReason::kLength;
};

// Turns token ids into text, for stop strings.
using DecodeFn = std::function<absl::StatusOr<std::string>(const std::vector<int64_t>& ids)>;
// Called after every generated token (request index, token id), e.g. to stream text.
using TokenCallback = std::function<void(size_t request, int64_t token)>;

struct EngineStats {
  int64_t forward_passes = 0;
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  // Largest number of rows in one decode step.
  int64_t max_active_rows = 0;
};

class Engine {
 public:
  // `model` is not owned. `decode` may be null when no request uses stop strings.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(CausalLM* model,
                                                        const EngineOptions& options,
                                                        DecodeFn decode = nullptr);

  // Generates a completion for every request; result i belongs to request i. Blocks until all
  // are done. InvalidArgument (naming the request) for an empty prompt, invalid params, a prompt
  // + max_new_tokens over max_seq_len, or stop strings without a decode callback; nothing is
  // generated then.
  absl::StatusOr<std::vector<GenerationResult>> Generate(
      const std::vector<GenerationRequest>& requests, const TokenCallback& on_token = nullptr);

  // Totals over every Generate call of this engine.
  const EngineStats& stats() const { return stats_; }

 private:
  Engine(CausalLM* model, const EngineOptions& options, DecodeFn decode)
      : model_(model), options_(options), decode_(std::move(decode)) {}

  CausalLM* model_;
  EngineOptions options_;
  DecodeFn decode_;
  std::unique_ptr<KvCache> cache_;
  EngineStats stats_;
};

}  // namespace memr1::llm
