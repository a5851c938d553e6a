// `memr1 generate --model DIR --prompt "..." [--chat]`: the human front door. Loads the model and
// its tokenizer, samples a completion and streams the text to stdout as it is generated.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "llm/chat_template.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/engine.h"
#include "llm/tokenizer.h"

namespace memr1::cli {

namespace {

struct GenerateFlags {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  std::string system;
  bool chat = false;
  int64_t max_new_tokens = 256;
  bool greedy = false;
  double temperature = 0.7;
  double top_p = 0.9;
  int64_t top_k = 0;
  uint64_t seed = 0;
  std::string dtype = "float32";
  std::string device = "cpu";
};

std::vector<int32_t> ToInt32(const std::vector<int64_t>& ids) {
  return std::vector<int32_t>(ids.begin(), ids.end());
}

// U+FFFD: the decoder's stand-in for an incomplete UTF-8 sequence at the end of the text.
bool EndsWithReplacement(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

absl::Status RunGenerate(const GenerateFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(c10::ScalarType dtype, llm::ParseDtype(flags.dtype));
  MEMR1_ASSIGN_OR_RETURN(c10::Device device, llm::ParseDevice(flags.device));
  MEMR1_ASSIGN_OR_RETURN(auto tokenizer,
                         llm::Tokenizer::Load(flags.tokenizer.empty() ? flags.model : flags.tokenizer));
  MEMR1_ASSIGN_OR_RETURN(auto model, llm::LoadCausalLM(flags.model, device, dtype));

  std::vector<int32_t> prompt;
  if (flags.chat) {
    MEMR1_ASSIGN_OR_RETURN(llm::ChatTemplate chat, llm::ChatTemplate::ForTokenizer(*tokenizer));
    std::vector<llm::ChatMessage> messages;
    if (!flags.system.empty()) messages.push_back({"system", flags.system});
    messages.push_back({"user", flags.prompt});
    llm::ChatTemplateOptions options;
    options.add_generation_prompt = true;
    MEMR1_ASSIGN_OR_RETURN(std::string text, chat.Apply(messages, options));
    MEMR1_ASSIGN_OR_RETURN(prompt, tokenizer->Encode(text, /*add_special_tokens=*/false));
  } else {
    if (!flags.system.empty()) return absl::InvalidArgumentError("--system needs --chat");
    MEMR1_ASSIGN_OR_RETURN(prompt, tokenizer->Encode(flags.prompt, /*add_special_tokens=*/true));
  }
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt encodes to no tokens");

  llm::GenerationRequest request;
  request.prompt.assign(prompt.begin(), prompt.end());
  request.params.greedy = flags.greedy;
  request.params.temperature = flags.temperature;
  request.params.top_p = flags.top_p;
  request.params.top_k = flags.top_k;
  request.params.seed = flags.seed;
  request.params.max_new_tokens = flags.max_new_tokens;
  request.params.stop_token_ids = model->config().eos_token_ids;
  if (tokenizer->eos_id().has_value()) request.params.stop_token_ids.push_back(*tokenizer->eos_id());

  llm::EngineOptions options;
  options.max_batch_size = 1;
  options.max_seq_len = static_cast<int64_t>(prompt.size()) + flags.max_new_tokens;
  MEMR1_ASSIGN_OR_RETURN(auto engine, llm::Engine::Create(model.get(), options));

  // Stream: after each token, print what the decoded text gained, holding back an incomplete
  // UTF-8 character until its last byte arrives.
  std::vector<int64_t> generated;
  size_t printed = 0;
  absl::Status stream_status;
  auto print_new = [&](bool final) {
    auto text = tokenizer->Decode(ToInt32(generated), /*skip_special_tokens=*/true);
    if (!text.ok()) {
      stream_status.Update(text.status());
      return;
    }
    if (!final && EndsWithReplacement(*text)) return;
    if (text->size() > printed) {
      std::cout << text->substr(printed) << std::flush;
      printed = text->size();
    }
  };
  MEMR1_ASSIGN_OR_RETURN(auto results,
                         engine->Generate({request}, [&](size_t, int64_t token) {
                           generated.push_back(token);
                           print_new(false);
                         }));
  print_new(true);
  std::cout << "\n";
  MEMR1_RETURN_IF_ERROR(stream_status);
  std::cerr << "[" << results[0].ids.size() << " tokens, finish_reason "
            << llm::FinishReasonName(results[0].finish_reason) << "]\n";
  return absl::OkStatus();
}

void RegisterGenerateCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* generate = app.add_subcommand(
      "generate", "Generate text from a Hugging Face model directory, streamed to stdout");
  generate->add_option("--model", flags->model, "Model directory (config.json, safetensors)")
      ->required();
  generate->add_option("--prompt", flags->prompt, "Prompt text")->required();
  generate->add_flag("--chat", flags->chat, "Wrap the prompt in the tokenizer's chat template");
  generate->add_option("--system", flags->system, "System message (with --chat)");
  generate->add_option("--tokenizer", flags->tokenizer,
                       "tokenizer.json or its directory (default: the model directory)");
  generate->add_option("--max-new-tokens", flags->max_new_tokens, "Tokens to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI::Option* greedy = generate->add_flag("--greedy", flags->greedy, "Argmax decoding");
  generate->add_option("--temperature", flags->temperature, "Sampling temperature")
      ->capture_default_str()
      ->excludes(greedy);
  generate->add_option("--top-p", flags->top_p, "Nucleus sampling mass (1 = off)")
      ->capture_default_str()
      ->excludes(greedy);
  generate->add_option("--top-k", flags->top_k, "Top-k sampling (0 = off)")
      ->capture_default_str()
      ->excludes(greedy);
  generate->add_option("--seed", flags->seed, "Sampling seed")->capture_default_str();
  generate->add_option("--dtype", flags->dtype, "Compute dtype: float32 | bfloat16")
      ->capture_default_str();
  generate->add_option("--device", flags->device, "torch device: cpu, cuda, cuda:1")
      ->capture_default_str();
  runner.Bind(generate, [flags]() { return RunGenerate(*flags); });
}

const CommandRegistration kRegistration(21, RegisterGenerateCommand);

}  // namespace
}  // namespace memr1::cli
