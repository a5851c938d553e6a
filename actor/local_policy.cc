#include "actor/local_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/engine.h"
#include "llm/safetensors.h"
#include "llm/tokenizer.h"

namespace memr1::actor {

absl::Status LocalPolicyOptions::Validate() const {
  if (model_dir.empty()) return absl::InvalidArgumentError("local policy model_dir is empty");
  if (max_batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("local policy max_batch_size must be >= 1, got ", max_batch_size));
  }
  if (max_prompt_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("local policy max_prompt_tokens must be >= 1, got ", max_prompt_tokens));
  }
  if (max_response_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "local policy max_response_tokens must be >= 1, got ", max_response_tokens));
  }
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("local policy version must be >= 0, got ", version));
  }
  if (absl::StatusOr<c10::ScalarType> parsed = llm::ParseDtype(dtype); !parsed.ok()) {
    return Annotate(parsed.status(), "local policy dtype");
  }
  if (absl::StatusOr<c10::Device> parsed = llm::ParseDevice(device); !parsed.ok()) {
    return Annotate(parsed.status(), "local policy device");
  }
  return absl::OkStatus();
}

LocalPolicy::LocalPolicy(LocalPolicyOptions options, std::unique_ptr<llm::Tokenizer> tokenizer,
                         std::unique_ptr<ChatEncoder> encoder,
                         std::unique_ptr<llm::CausalLM> model,
                         std::unique_ptr<llm::Engine> engine)
    : options_(std::move(options)),
      tokenizer_(std::move(tokenizer)),
      encoder_(std::move(encoder)),
      model_(std::move(model)),
      engine_(std::move(engine)),
      version_(options_.version) {
  stop_ids_.assign(encoder_->stop_ids().begin(), encoder_->stop_ids().end());
  stop_ids_.insert(stop_ids_.end(), model_->config().eos_token_ids.begin(),
                   model_->config().eos_token_ids.end());
  std::sort(stop_ids_.begin(), stop_ids_.end());
  stop_ids_.erase(std::unique(stop_ids_.begin(), stop_ids_.end()), stop_ids_.end());
}

LocalPolicy::~LocalPolicy() = default;

absl::StatusOr<std::unique_ptr<LocalPolicy>> LocalPolicy::Create(
    const LocalPolicyOptions& options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(const c10::ScalarType dtype, llm::ParseDtype(options.dtype));
  MEMR1_ASSIGN_OR_RETURN(const c10::Device device, llm::ParseDevice(options.device));
  const std::string& tokenizer_path =
      options.tokenizer_path.empty() ? options.model_dir : options.tokenizer_path;
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer = llm::Tokenizer::Load(tokenizer_path);
  if (!tokenizer.ok()) {
    return Annotate(tokenizer.status(), absl::StrCat("local policy tokenizer ", tokenizer_path));
  }
  absl::StatusOr<ChatEncoder> encoder =
      ChatEncoder::Create(tokenizer->get(), options.chat_family, options.enable_thinking);
  if (!encoder.ok()) {
    return Annotate(encoder.status(),
                    absl::StrCat("local policy chat template of ", tokenizer_path));
  }
  absl::StatusOr<std::unique_ptr<llm::CausalLM>> model =
      llm::LoadCausalLM(options.model_dir, device, dtype);
  if (!model.ok()) {
    return Annotate(model.status(), absl::StrCat("local policy model ", options.model_dir));
  }
  llm::EngineOptions engine_options;
  engine_options.max_batch_size = options.max_batch_size;
  engine_options.max_seq_len = options.max_prompt_tokens + options.max_response_tokens;
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<llm::Engine> engine,
                         llm::Engine::Create(model->get(), engine_options));
  return std::unique_ptr<LocalPolicy>(new LocalPolicy(
      options, *std::move(tokenizer), std::make_unique<ChatEncoder>(*std::move(encoder)),
      *std::move(model), std::move(engine)));
}

absl::StatusOr<std::vector<Completion>> LocalPolicy::Complete(
    absl::Span<const PolicyRequest> requests) {
  std::vector<Completion> completions(requests.size());
  if (requests.empty()) return completions;
  std::vector<llm::GenerationRequest> generation(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const PolicyRequest& request = requests[i];
    const std::string where = absl::StrCat(Describe(), ", request ", i);
    if (absl::Status valid = request.sampling.Validate(); !valid.ok()) {
      return Annotate(valid, where);
    }
    absl::StatusOr<std::vector<int32_t>> prompt = encoder_->EncodePrompt(request.messages);
    if (!prompt.ok()) return Annotate(prompt.status(), where);
    if (static_cast<int64_t>(prompt->size()) > options_.max_prompt_tokens) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the prompt has ", prompt->size(),
                       " tokens, over max_prompt_tokens ", options_.max_prompt_tokens));
    }
    completions[i].prompt_ids = *std::move(prompt);
    llm::GenerationRequest& out = generation[i];
    out.prompt.assign(completions[i].prompt_ids.begin(), completions[i].prompt_ids.end());
    const SamplingOptions& sampling = request.sampling;
    out.params.greedy = sampling.temperature == 0;
    // The sampler wants a positive temperature even for greedy rows, where it is unused.
    out.params.temperature = out.params.greedy ? 1.0 : sampling.temperature;
    out.params.top_p = sampling.top_p;
    out.params.top_k = sampling.top_k;
    out.params.seed = sampling.seed;
    out.params.max_new_tokens = std::min(sampling.max_tokens, options_.max_response_tokens);
    out.params.stop_token_ids = stop_ids_;
  }
  absl::StatusOr<std::vector<llm::GenerationResult>> results = engine_->Generate(generation);
  if (!results.ok()) return Annotate(results.status(), Describe());
  for (size_t i = 0; i < requests.size(); ++i) {
    llm::GenerationResult& result = (*results)[i];
    Completion& completion = completions[i];
    completion.response_ids.assign(result.ids.begin(), result.ids.end());
    completion.logprobs = std::move(result.logprobs);
    completion.truncated = result.finish_reason == llm::FinishReason::kLength;
    // Models often have more embedding rows than the tokenizer has tokens (Qwen-2.5 pads its
    // vocabulary to a multiple of 128); an id past the tokenizer has no text, and is left out of
    // the text as transformers' decode leaves it out. The ids themselves stay in the completion:
    // the trajectory trains on what was sampled.
    std::vector<int32_t> known;
    known.reserve(completion.response_ids.size());
    for (int32_t id : completion.response_ids) {
      if (id < tokenizer_->vocab_size()) known.push_back(id);
    }
    absl::StatusOr<std::string> text = tokenizer_->Decode(known, /*skip_special_tokens=*/true);
    if (!text.ok()) return Annotate(text.status(), absl::StrCat(Describe(), ", request ", i));
    completion.text = *std::move(text);
  }
  return completions;
}

absl::StatusOr<int64_t> LocalPolicy::CountPromptTokens(
    absl::Span<const llm::ChatMessage> messages) const {
  MEMR1_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, encoder_->EncodePrompt(messages));
  return static_cast<int64_t>(ids.size());
}

std::string LocalPolicy::Describe() const {
  return absl::StrCat("local:", options_.model_dir, " (v", version_, ")");
}

absl::Status LocalPolicy::SetWeights(const llm::SafetensorsCheckpoint& weights,
                                     int64_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy version must be >= 0, got ", version));
  }
  MEMR1_RETURN_IF_ERROR(Annotate(llm::LoadWeights(weights, model_.get()),
                                 absl::StrCat(Describe(), ": loading weights for v", version)));
  version_ = version;
  return absl::OkStatus();
}

}  // namespace memr1::actor
