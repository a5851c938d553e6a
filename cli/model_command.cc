// `memr1 model init|logprobs|generate|embed`: Hugging Face checkpoints for scripts, with JSON
// lines in and out (one object per line; results in input order).

#include <charconv>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/embedding.h"
#include "llm/engine.h"
#include "llm/model_config.h"
#include "llm/model_init.h"
#include "llm/scoring.h"

namespace memr1::cli {

namespace {

using Json = nlohmann::json;

// Reads `{"ids": [...]}` lines from `path` ("-" = stdin). Blank lines are skipped. Errors name
// the file and line.
absl::StatusOr<std::vector<std::vector<int64_t>>> ReadIdLines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open input"));
    in = &file;
  }
  std::vector<std::vector<int64_t>> out;
  std::string line;
  for (int number = 1; std::getline(*in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(path, ":", number);
    Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    }
    auto ids = json.find("ids");
    if (ids == json.end() || !ids->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs \"ids\": [token ids]"));
    }
    std::vector<int64_t> row;
    for (const Json& id : *ids) {
      if (!id.is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": \"ids\" must hold integers"));
      }
      row.push_back(id.get<int64_t>());
    }
    if (row.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": \"ids\" is empty"));
    out.push_back(std::move(row));
  }
  return out;
}

// Shortest text that reads back as the same float.
std::string FloatText(float value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string FloatList(const std::vector<float>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += FloatText(values[i]);
  }
  return out + "]";
}

std::string IntList(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(values[i]);
  }
  return out + "]";
}

// Writes `lines` to `path` ("-" = stdout) through a temporary file, so a failed run leaves no
// partial output.
absl::Status WriteLines(const std::string& path, const std::vector<std::string>& lines) {
  if (path == "-") {
    for (const std::string& line : lines) std::cout << line << "\n";
    return absl::OkStatus();
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const std::string& line : lines) out << line << "\n";
    if (!out) return absl::InternalError(absl::StrCat(tmp, ": cannot write"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

struct ModelFlags {
  std::string model;
  std::string input;
  std::string output;
  std::string dtype = "float32";
  std::string device = "cpu";
  int64_t batch_size = 8;
};

void AddModelFlags(CLI::App* command, ModelFlags* flags) {
  command->add_option("--model", flags->model, "Hugging Face model directory")->required();
  command->add_option("--input", flags->input, "JSON lines input ({\"ids\": [...]}; - = stdin)")
      ->required();
  command->add_option("--output", flags->output, "JSON lines output (- = stdout)")->required();
  command->add_option("--dtype", flags->dtype, "Compute dtype: float32 | bfloat16")
      ->capture_default_str();
  command->add_option("--device", flags->device, "torch device: cpu, cuda, cuda:1")
      ->capture_default_str();
  command->add_option("--batch-size", flags->batch_size, "Sequences per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

absl::StatusOr<std::unique_ptr<llm::CausalLM>> LoadModel(const ModelFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(c10::ScalarType dtype, llm::ParseDtype(flags.dtype));
  MEMR1_ASSIGN_OR_RETURN(c10::Device device, llm::ParseDevice(flags.device));
  return llm::LoadCausalLM(flags.model, device, dtype);
}

struct InitFlags {
  std::string arch;
  std::string config;
  uint64_t seed = 0;
  std::string output;
  std::string dtype = "float32";
};

struct GenerateFlags {
  ModelFlags model;
  int64_t max_new_tokens = 0;
  bool greedy = false;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  bool ignore_eos = false;
  int64_t max_seq_len = 4096;
};

absl::Status RunInit(const InitFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(llm::Architecture arch, llm::ParseArchitecture(flags.arch));
  std::string overrides;
  if (!flags.config.empty()) {
    std::ifstream in(flags.config);
    if (!in) return absl::NotFoundError(absl::StrCat(flags.config, ": cannot open"));
    std::stringstream text;
    text << in.rdbuf();
    overrides = text.str();
  }
  MEMR1_ASSIGN_OR_RETURN(llm::ModelConfig config,
                         llm::MakeModelConfig(arch, overrides,
                                              flags.config.empty() ? "defaults" : flags.config));
  MEMR1_ASSIGN_OR_RETURN(c10::ScalarType dtype, llm::ParseDtype(flags.dtype));
  MEMR1_ASSIGN_OR_RETURN(auto model, llm::CausalLM::Create(config, c10::Device("cpu"), at::kFloat));
  llm::InitOptions init;
  init.seed = flags.seed;
  MEMR1_RETURN_IF_ERROR(llm::InitializeRandom(model.get(), init));
  llm::SaveOptions save;
  save.dtype = dtype;
  MEMR1_RETURN_IF_ERROR(llm::SaveCausalLM(*model, flags.output, save));
  std::cout << "wrote " << llm::ArchitectureClassName(arch) << " with " << model->NumParameters()
            << " parameters to " << flags.output << "\n";
  return absl::OkStatus();
}

absl::Status RunLogprobs(const ModelFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(auto sequences, ReadIdLines(flags.input));
  MEMR1_ASSIGN_OR_RETURN(auto model, LoadModel(flags));
  llm::ScoreOptions options;
  options.batch_size = flags.batch_size;
  MEMR1_ASSIGN_OR_RETURN(auto scores, llm::ScoreSequences(*model, sequences, options));
  std::vector<std::string> lines;
  for (const auto& s : scores) lines.push_back("{\"logprobs\": " + FloatList(s.logprobs) + "}");
  return WriteLines(flags.output, lines);
}

absl::Status RunGenerate(const GenerateFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(auto prompts, ReadIdLines(flags.model.input));
  MEMR1_ASSIGN_OR_RETURN(auto model, LoadModel(flags.model));
  std::vector<llm::GenerationRequest> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    llm::GenerationRequest r;
    r.prompt = prompts[i];
    r.params.greedy = flags.greedy;
    r.params.temperature = flags.temperature;
    r.params.top_p = flags.top_p;
    r.params.top_k = flags.top_k;
    r.params.seed = flags.seed + i;  // line i's own stream: reproducible, not identical
    r.params.max_new_tokens = flags.max_new_tokens;
    if (!flags.ignore_eos) r.params.stop_token_ids = model->config().eos_token_ids;
    requests.push_back(std::move(r));
  }
  llm::EngineOptions options;
  options.max_batch_size = flags.model.batch_size;
  options.max_seq_len = flags.max_seq_len;
  MEMR1_ASSIGN_OR_RETURN(auto engine, llm::Engine::Create(model.get(), options));
  MEMR1_ASSIGN_OR_RETURN(auto results, engine->Generate(requests));
  std::vector<std::string> lines;
  for (const auto& r : results) {
    lines.push_back(absl::StrCat("{\"ids\": ", IntList(r.ids), ", \"logprobs\": ",
                                 FloatList(r.logprobs), ", \"finish_reason\": \"",
                                 llm::FinishReasonName(r.finish_reason), "\"}"));
  }
  return WriteLines(flags.model.output, lines);
}

absl::Status RunEmbed(const ModelFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(auto sequences, ReadIdLines(flags.input));
  MEMR1_ASSIGN_OR_RETURN(auto model, LoadModel(flags));
  MEMR1_ASSIGN_OR_RETURN(at::Tensor embeddings,
                         llm::EmbedSequences(*model, sequences, flags.batch_size));
  std::vector<std::string> lines;
  const int64_t dim = embeddings.size(1);
  const float* data = embeddings.data_ptr<float>();
  for (int64_t i = 0; i < embeddings.size(0); ++i) {
    lines.push_back("{\"embedding\": " +
                    FloatList(std::vector<float>(data + i * dim, data + (i + 1) * dim)) + "}");
  }
  return WriteLines(flags.output, lines);
}

void RegisterModelCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* model = app.add_subcommand(
      "model", "Hugging Face checkpoints (Qwen2, Qwen3, Llama): init, score, sample, embed");
  model->require_subcommand(1);

  auto init = std::make_shared<InitFlags>();
  CLI::App* init_cmd = model->add_subcommand(
      "init", "Write a randomly initialised model in the Hugging Face layout");
  init_cmd->add_option("--arch", init->arch, "qwen2 | qwen3 | llama")->required();
  init_cmd->add_option("--config", init->config,
                       "JSON file of config.json keys overriding the small defaults");
  init_cmd->add_option("--seed", init->seed, "Initialisation seed")->capture_default_str();
  init_cmd->add_option("--output", init->output, "Model directory to write")->required();
  init_cmd->add_option("--dtype", init->dtype, "On-disk dtype: float32 | bfloat16")
      ->capture_default_str();
  runner.Bind(init_cmd, [init]() { return RunInit(*init); });

  auto logprobs = std::make_shared<ModelFlags>();
  CLI::App* logprobs_cmd = model->add_subcommand(
      "logprobs", "Per-token log-probs: {\"ids\": [...]} -> {\"logprobs\": [len(ids) - 1 values]}");
  AddModelFlags(logprobs_cmd, logprobs.get());
  runner.Bind(logprobs_cmd, [logprobs]() { return RunLogprobs(*logprobs); });

  auto generate = std::make_shared<GenerateFlags>();
  CLI::App* generate_cmd = model->add_subcommand(
      "generate",
      "Sample completions: {\"ids\": prompt} -> {\"ids\", \"logprobs\", \"finish_reason\"}");
  AddModelFlags(generate_cmd, &generate->model);
  generate_cmd->add_option("--max-new-tokens", generate->max_new_tokens, "Tokens to generate")
      ->required()
      ->check(CLI::NonNegativeNumber);
  CLI::Option* greedy = generate_cmd->add_flag("--greedy", generate->greedy, "Argmax decoding");
  generate_cmd->add_option("--temperature", generate->temperature, "Sampling temperature")
      ->capture_default_str()
      ->excludes(greedy);
  generate_cmd->add_option("--top-p", generate->top_p, "Nucleus sampling mass (1 = off)")
      ->capture_default_str()
      ->excludes(greedy);
  generate_cmd->add_option("--top-k", generate->top_k, "Top-k sampling (0 = off)")
      ->capture_default_str()
      ->excludes(greedy);
  generate_cmd->add_option("--seed", generate->seed, "Seed; line i samples with seed + i")
      ->capture_default_str();
  generate_cmd->add_flag("--ignore-eos", generate->ignore_eos,
                         "Do not stop at config.json's eos_token_id");
  generate_cmd->add_option("--max-seq-len", generate->max_seq_len,
                           "Longest prompt + completion accepted")
      ->capture_default_str();
  runner.Bind(generate_cmd, [generate]() { return RunGenerate(*generate); });

  auto embed = std::make_shared<ModelFlags>();
  CLI::App* embed_cmd = model->add_subcommand(
      "embed", "Last-token, L2-normalised embeddings: {\"ids\": [...]} -> {\"embedding\": [...]}");
  AddModelFlags(embed_cmd, embed.get());
  runner.Bind(embed_cmd, [embed]() { return RunEmbed(*embed); });
}

const CommandRegistration kRegistration(20, RegisterModelCommands);

}  // namespace
}  // namespace memr1::cli
