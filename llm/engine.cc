#include "llm/engine.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

namespace {

// A request occupying a cache slot.
struct Row {
  size_t request = 0;
  int64_t last_token = 0;
  std::optional<SamplerRng> rng;
};

}  // namespace

absl::Status EngineOptions::Validate() const {
  if (max_batch_size <= 0 || max_seq_len <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_size (", max_batch_size,
                                                   ") and max_seq_len (", max_seq_len,
                                                   ") must be positive"));
  }
  return absl::OkStatus();
}

std::string FinishReasonName(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(CausalLM* model,
                                                       const EngineOptions& options,
                                                       DecodeFn decode) {
  if (model == nullptr) return absl::InvalidArgumentError("Engine needs a model");
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Engine>(new Engine(model, options, std::move(decode)));
}

absl::StatusOr<std::vector<GenerationResult>> Engine::Generate(
    const std::vector<GenerationRequest>& requests, const TokenCallback& on_token) {
  const int64_t vocab = model_->config().vocab_size;
  int64_t need = 1;
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerationRequest& r = requests[i];
    absl::Status valid = r.params.Validate();
    if (!valid.ok()) return Annotate(valid, absl::StrCat("request ", i));
    if (r.prompt.empty()) return absl::InvalidArgumentError(absl::StrCat("request ", i, ": empty prompt"));
    for (int64_t id : r.prompt) {
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(absl::StrCat("request ", i, ": token id ", id,
                                                       " is outside the vocabulary [0, ", vocab, ")"));
      }
    }
    const int64_t total = static_cast<int64_t>(r.prompt.size()) + std::max<int64_t>(r.params.max_new_tokens - 1, 0);
    if (total > options_.max_seq_len) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request ", i, ": prompt (", r.prompt.size(), ") + max_new_tokens (",
          r.params.max_new_tokens, ") exceeds max_seq_len ", options_.max_seq_len));
    }
    if (!r.params.stop_strings.empty() && !decode_) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i, ": stop strings need a decode callback (a tokenizer)"));
    }
    need = std::max(need, total);
  }
  std::vector<GenerationResult> results(requests.size());
  const int64_t slots = std::min<int64_t>(options_.max_batch_size, std::max<size_t>(requests.size(), 1));
  if (!cache_ || cache_->max_seq() < need || cache_->max_batch() < slots) {
    const int64_t batch = std::max<int64_t>(slots, cache_ ? cache_->max_batch() : 0);
    const int64_t seq = std::max<int64_t>(need, cache_ ? cache_->max_seq() : 0);
    cache_.reset();
    MEMR1_ASSIGN_OR_RETURN(cache_, KvCache::Create(model_->config(), batch, seq,
                                                   model_->device(), model_->dtype()));
  }
  cache_->ResetAll();

  std::deque<size_t> queue;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].params.max_new_tokens == 0) continue;  // nothing to generate: "length"
    queue.push_back(i);
  }
  std::vector<std::optional<Row>> rows(slots);
  const at::TensorOptions long_cpu = at::TensorOptions().dtype(at::kLong);

  // Appends `token` to the row in `slot`; frees the slot when the request is done.
  auto emit = [&](int64_t slot, const SampledToken& token) -> absl::Status {
    Row& row = *rows[slot];
    const GenerationRequest& request = requests[row.request];
    GenerationResult& result = results[row.request];
    result.ids.push_back(token.id);
    result.logprobs.push_back(token.logprob);
    if (on_token) on_token(row.request, token.id);
    bool stop = std::find(request.params.stop_token_ids.begin(),
                          request.params.stop_token_ids.end(),
                          token.id) != request.params.stop_token_ids.end();
    if (!stop && !request.params.stop_strings.empty()) {
      MEMR1_ASSIGN_OR_RETURN(std::string text, decode_(result.ids));
      for (const std::string& s : request.params.stop_strings) {
        if (text.find(s) != std::string::npos) stop = true;
      }
    }
    if (stop) {
      result.finish_reason = FinishReason::kStop;
    } else if (static_cast<int64_t>(result.ids.size()) >= request.params.max_new_tokens) {
      result.finish_reason = FinishReason::kLength;
    } else {
      row.last_token = token.id;
      return absl::OkStatus();
    }
    rows[slot].reset();
    cache_->Reset(slot);
    return absl::OkStatus();
  };

  // Samples the next token of each listed slot from its logits [n, vocab].
  auto sample = [&](const std::vector<int64_t>& which, const at::Tensor& logits) -> absl::Status {
    std::vector<const SamplingParams*> params;
    std::vector<SamplerRng*> rngs;
    for (int64_t slot : which) {
      Row& row = *rows[slot];
      params.push_back(&requests[row.request].params);
      rngs.push_back(row.rng ? &*row.rng : nullptr);
    }
    MEMR1_ASSIGN_OR_RETURN(std::vector<SampledToken> tokens, SampleTokens(logits, params, rngs));
    for (size_t i = 0; i < which.size(); ++i) MEMR1_RETURN_IF_ERROR(emit(which[i], tokens[i]));
    return absl::OkStatus();
  };

  at::NoGradGuard no_grad;
  while (true) {
    // Admit queued requests into free slots and prefill them together (right-padded).
    std::vector<int64_t> admitted;
    for (int64_t slot = 0; slot < slots && !queue.empty(); ++slot) {
      if (rows[slot]) continue;
      Row row;
      row.request = queue.front();
      queue.pop_front();
      if (!requests[row.request].params.greedy) row.rng.emplace(requests[row.request].params.seed);
      rows[slot] = std::move(row);
      cache_->Reset(slot);
      admitted.push_back(slot);
    }
    if (!admitted.empty()) {
      int64_t longest = 0;
      for (int64_t slot : admitted) {
        longest = std::max<int64_t>(longest, requests[rows[slot]->request].prompt.size());
      }
      const int64_t n = admitted.size();
      at::Tensor ids = at::zeros({n, longest}, long_cpu);
      at::Tensor mask = at::zeros({n, longest}, at::TensorOptions().dtype(at::kBool));
      std::vector<int64_t> last(n);
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<int64_t>& prompt = requests[rows[admitted[i]]->request].prompt;
        const int64_t len = prompt.size();
        std::copy(prompt.begin(), prompt.end(), ids.data_ptr<int64_t>() + i * longest);
        mask[i].narrow(0, 0, len).fill_(true);
        last[i] = len - 1;
        stats_.prefill_tokens += len;
      }
      DecoderInput input;
      input.input_ids = ids;
      input.attention_mask = mask;
      input.cache = cache_.get();
      input.cache_slots = at::tensor(admitted, long_cpu);
      MEMR1_ASSIGN_OR_RETURN(at::Tensor hidden, model_->Hidden(input));
      ++stats_.forward_passes;
      MEMR1_ASSIGN_OR_RETURN(at::Tensor logits, TorchCall("prefill logits", [&]() {
        at::Tensor index = at::tensor(last, long_cpu).to(hidden.device());
        at::Tensor rows_h = hidden.index({at::arange(n, long_cpu.device(hidden.device())), index});
        return model_->LmHead(rows_h);
      }));
      MEMR1_RETURN_IF_ERROR(sample(admitted, logits));
      continue;  // finished rows may have freed slots for more queued requests
    }
    std::vector<int64_t> active;
    for (int64_t slot = 0; slot < slots; ++slot) {
      if (rows[slot]) active.push_back(slot);
    }
    if (active.empty()) {
      if (queue.empty()) break;
      continue;
    }
    const int64_t n = active.size();
    stats_.max_active_rows = std::max(stats_.max_active_rows, n);
    stats_.decode_tokens += n;
    at::Tensor ids = at::empty({n, 1}, long_cpu);
    for (int64_t i = 0; i < n; ++i) ids.data_ptr<int64_t>()[i] = rows[active[i]]->last_token;
    DecoderInput input;
    input.input_ids = ids;
    input.cache = cache_.get();
    input.cache_slots = at::tensor(active, long_cpu);
    MEMR1_ASSIGN_OR_RETURN(at::Tensor hidden, model_->Hidden(input));
    ++stats_.forward_passes;
    MEMR1_ASSIGN_OR_RETURN(at::Tensor logits, TorchCall("decode logits", [&]() {
      return model_->LmHead(hidden.select(1, 0));
    }));
    MEMR1_RETURN_IF_ERROR(sample(active, logits));
  }
  return results;
}

}  // namespace memr1::llm
