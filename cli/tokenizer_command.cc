// `memr1 tokenize`, `memr1 chat-template` and `memr1 tokenizer train`: the tokenizer and chat
// templates over JSON lines (stdin/stdout unless --input/--output), and the BPE trainer.
// Every input line is processed before anything is written, so a bad line (reported with its
// line number) leaves no partial output; --output files are written whole or not at all.

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "llm/bpe_trainer.h"
#include "llm/chat_template.h"
#include "llm/tokenizer.h"

namespace memr1::cli {

namespace {

struct IoFlags {
  std::string input;   // "" = stdin
  std::string output;  // "" = stdout
};

void AddIoFlags(CLI::App* command, IoFlags* flags) {
  command->add_option("--input", flags->input, "JSON-lines input file (default: stdin)");
  command->add_option("--output", flags->output, "JSON-lines output file (default: stdout)");
}

absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!path.empty()) {
    file.open(path, std::ios::binary);
    if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    in = &file;
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(*in, line)) lines.push_back(line);
  if (in->bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return lines;
}

absl::Status WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty()) {
    std::cout << text;
    std::cout.flush();
    return std::cout ? absl::OkStatus() : absl::DataLossError("error writing stdout");
  }
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", error.message()));
  return absl::OkStatus();
}

// Parses line `index` (0-based) as a JSON object; errors name the 1-based line.
absl::StatusOr<nlohmann::json> ParseLine(const std::string& line, size_t index) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", index + 1, ": ", e.what()));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", index + 1, ": not a JSON object"));
  }
  return json;
}

bool Blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

struct TokenizeFlags {
  std::string tokenizer;
  bool add_special_tokens = false;
  bool decode = false;
  bool skip_special_tokens = false;
  int threads = 0;
  IoFlags io;
};

absl::Status RunTokenize(const TokenizeFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const std::unique_ptr<llm::Tokenizer> tokenizer,
                         llm::Tokenizer::Load(flags.tokenizer));
  MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> lines, ReadLines(flags.io.input));
  std::string out;
  if (flags.decode) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (Blank(lines[i])) continue;
      MEMR1_ASSIGN_OR_RETURN(const nlohmann::json request, ParseLine(lines[i], i));
      const auto ids = request.find("ids");
      if (ids == request.end() || !ids->is_array()) {
        return absl::InvalidArgumentError(absl::StrCat("line ", i + 1, ": needs \"ids\": [...]"));
      }
      std::vector<int32_t> values;
      for (const auto& id : *ids) {
        if (!id.is_number_integer()) {
          return absl::InvalidArgumentError(absl::StrCat("line ", i + 1, ": ids must be integers"));
        }
        values.push_back(id.get<int32_t>());
      }
      absl::StatusOr<std::string> text = tokenizer->Decode(values, flags.skip_special_tokens);
      if (!text.ok()) return Annotate(text.status(), absl::StrCat("line ", i + 1));
      absl::StrAppend(&out, nlohmann::json({{"text", *text}}).dump(), "\n");
    }
    return WriteOutput(flags.io.output, out);
  }
  std::vector<std::string> texts;
  std::vector<size_t> line_of;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Blank(lines[i])) continue;
    MEMR1_ASSIGN_OR_RETURN(const nlohmann::json request, ParseLine(lines[i], i));
    const auto text = request.find("text");
    if (text == request.end() || !text->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", i + 1, ": needs \"text\": \"...\""));
    }
    texts.push_back(text->get<std::string>());
    line_of.push_back(i);
  }
  absl::StatusOr<std::vector<std::vector<int32_t>>> ids =
      tokenizer->EncodeBatch(texts, flags.add_special_tokens, flags.threads);
  if (!ids.ok()) {
    // Re-run one by one to name the input line of the first failure.
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto one = tokenizer->Encode(texts[k], flags.add_special_tokens);
      if (!one.ok()) return Annotate(one.status(), absl::StrCat("line ", line_of[k] + 1));
    }
    return ids.status();
  }
  for (const auto& sequence : *ids) {
    absl::StrAppend(&out, nlohmann::json({{"ids", sequence}}).dump(), "\n");
  }
  return WriteOutput(flags.io.output, out);
}

struct ChatFlags {
  std::string tokenizer;
  std::string family;
  bool add_generation_prompt = false;
  bool no_thinking = false;
  IoFlags io;
};

absl::Status RunChatTemplate(const ChatFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const std::unique_ptr<llm::Tokenizer> tokenizer,
                         llm::Tokenizer::Load(flags.tokenizer));
  MEMR1_ASSIGN_OR_RETURN(const llm::ChatTemplate chat,
                         llm::ChatTemplate::ForTokenizer(*tokenizer, flags.family));
  llm::ChatTemplateOptions options;
  options.add_generation_prompt = flags.add_generation_prompt;
  options.enable_thinking = !flags.no_thinking;
  MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> lines, ReadLines(flags.io.input));
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Blank(lines[i])) continue;
    MEMR1_ASSIGN_OR_RETURN(const nlohmann::json request, ParseLine(lines[i], i));
    const auto messages = request.find("messages");
    if (messages == request.end() || !messages->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, ": needs \"messages\": [{\"role\": ..., \"content\": ...}]"));
    }
    std::vector<llm::ChatMessage> parsed;
    for (size_t m = 0; m < messages->size(); ++m) {
      const nlohmann::json& message = (*messages)[m];
      if (!message.is_object() || !message.contains("role") || !message.contains("content") ||
          !message.at("role").is_string() || !message.at("content").is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "line ", i + 1, ": messages[", m, "] needs string \"role\" and \"content\""));
      }
      parsed.push_back({message.at("role").get<std::string>(),
                        message.at("content").get<std::string>()});
    }
    absl::StatusOr<std::string> text = chat.Apply(parsed, options);
    if (!text.ok()) return Annotate(text.status(), absl::StrCat("line ", i + 1));
    absl::StrAppend(&out, nlohmann::json({{"text", *text}}).dump(), "\n");
  }
  return WriteOutput(flags.io.output, out);
}

struct TrainFlags {
  std::string input;
  std::string output;
  int vocab_size = 0;
  int64_t min_frequency = 2;
  std::string special_tokens = "<|endoftext|>,<|im_start|>,<|im_end|>";
};

absl::Status RunTrain(const TrainFlags& flags) {
  llm::BpeTrainerOptions options;
  options.vocab_size = flags.vocab_size;
  options.min_frequency = flags.min_frequency;
  options.special_tokens = absl::StrSplit(flags.special_tokens, ',', absl::SkipEmpty());
  MEMR1_ASSIGN_OR_RETURN(const llm::TrainedTokenizer trained,
                         llm::TrainBpeFromFile(flags.input, options));
  MEMR1_RETURN_IF_ERROR(llm::WriteTrainedTokenizer(trained, flags.output));
  std::cout << "wrote " << flags.output << "/tokenizer.json and tokenizer_config.json: "
            << trained.vocab_size << " ids (" << trained.num_merges << " merges)\n";
  return absl::OkStatus();
}

void RegisterTokenizerCommands(CLI::App& app, CommandRunner& runner) {
  auto tokenize_flags = std::make_shared<TokenizeFlags>();
  CLI::App* tokenize = app.add_subcommand(
      "tokenize",
      "Encode JSON lines {\"text\": ...} to {\"ids\": [...]} (or --decode the reverse) with a "
      "Hugging Face tokenizer.json");
  tokenize->add_option("--tokenizer", tokenize_flags->tokenizer,
                       "tokenizer.json, or a model directory holding it")
      ->required();
  tokenize->add_flag("--add-special-tokens", tokenize_flags->add_special_tokens,
                     "Apply the post-processor (e.g. Llama-3's BOS)");
  tokenize->add_flag("--decode", tokenize_flags->decode, "Decode {\"ids\": [...]} lines to text");
  tokenize->add_flag("--skip-special-tokens", tokenize_flags->skip_special_tokens,
                     "With --decode: drop special tokens");
  tokenize->add_option("--threads", tokenize_flags->threads,
                       "Encoding threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  AddIoFlags(tokenize, &tokenize_flags->io);
  runner.Bind(tokenize, [tokenize_flags] { return RunTokenize(*tokenize_flags); });

  auto chat_flags = std::make_shared<ChatFlags>();
  CLI::App* chat = app.add_subcommand(
      "chat-template",
      "Render JSON lines {\"messages\": [...]} to {\"text\": ...} with the model family's chat "
      "template (Qwen-2.5, Qwen-3, Llama-3, Llama-3.1)");
  chat->add_option("--tokenizer", chat_flags->tokenizer,
                   "Model directory (tokenizer.json + tokenizer_config.json)")
      ->required();
  chat->add_flag("--add-generation-prompt", chat_flags->add_generation_prompt,
                 "End with the assistant header so the model answers");
  chat->add_option("--family", chat_flags->family,
                   "qwen2.5|qwen3|llama3|llama3.1 (default: detected from chat_template)");
  chat->add_flag("--no-thinking", chat_flags->no_thinking,
                 "Qwen-3: render enable_thinking=False (empty think block)");
  AddIoFlags(chat, &chat_flags->io);
  runner.Bind(chat, [chat_flags] { return RunChatTemplate(*chat_flags); });

  CLI::App* tokenizer = app.add_subcommand("tokenizer", "Tokenizer tools");
  tokenizer->require_subcommand(1);
  auto train_flags = std::make_shared<TrainFlags>();
  CLI::App* train = tokenizer->add_subcommand(
      "train", "Train a byte-level BPE tokenizer and write tokenizer.json + tokenizer_config.json");
  train->add_option("--input", train_flags->input, "UTF-8 text corpus (one document per line)")
      ->required();
  train->add_option("--vocab-size", train_flags->vocab_size,
                    "Total ids: 256 bytes + merges + special tokens")
      ->required();
  train->add_option("--output", train_flags->output, "Output directory")->required();
  train->add_option("--min-frequency", train_flags->min_frequency,
                    "Pairs seen fewer times are not merged")
      ->capture_default_str();
  train->add_option("--special-tokens", train_flags->special_tokens,
                    "Comma-separated special tokens (first = pad, last = eos)")
      ->capture_default_str();
  runner.Bind(train, [train_flags] { return RunTrain(*train_flags); });
}

const CommandRegistration kRegistration(15, RegisterTokenizerCommands);

}  // namespace
}  // namespace memr1::cli
