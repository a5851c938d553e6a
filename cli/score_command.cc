// `memr1 score`: EM, F1, LoCoMo F1, BLEU-1 and optionally the LLM judge for any system's
// predictions, per item and per category.

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"
#include "eval/categories.h"
#include "eval/judge_client.h"
#include "eval/score_file.h"

namespace memr1::cli {
namespace {

struct ScoreFlags {
  std::string input;
  std::string output;
  std::string report;
  std::string format = "markdown";
  std::string names = "locomo";
  bool judge = false;
  std::string config;
  std::vector<std::string> overrides;
  std::string judge_url;
  std::string judge_model;
  std::string judge_key_env;
  std::optional<int> judge_repeats;
  std::optional<int> judge_timeout_ms;
  std::optional<int> judge_retries;
};

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return absl::PermissionDeniedError(absl::StrCat("cannot create ", path));
  file << text;
  file.flush();
  if (!file) return absl::DataLossError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<eval::JudgeClient>> MakeJudge(const ScoreFlags& flags) {
  v1::JudgeConfig config;
  if (!flags.config.empty()) {
    MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job, LoadJobConfig(flags.config, flags.overrides));
    config = job.eval().judge();
  }
  if (!flags.judge_url.empty()) config.set_base_url(flags.judge_url);
  if (!flags.judge_model.empty()) config.set_model(flags.judge_model);
  if (!flags.judge_key_env.empty()) config.set_api_key_env(flags.judge_key_env);
  if (flags.judge_repeats) config.set_repeats(*flags.judge_repeats);
  if (flags.judge_timeout_ms) config.set_timeout_ms(*flags.judge_timeout_ms);
  if (flags.judge_retries) config.set_max_retries(*flags.judge_retries);
  if (config.base_url().empty()) {
    return absl::InvalidArgumentError(
        "--judge needs a judge URL: --judge-url or eval.judge.base_url in --config");
  }
  MEMR1_ASSIGN_OR_RETURN(eval::JudgeOptions options, eval::JudgeOptions::FromConfig(config));
  return eval::JudgeClient::Create(std::move(options));
}

absl::Status RunScore(const ScoreFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const eval::CategoryNaming naming,
                         eval::ParseCategoryNaming(flags.names));
  if (flags.format != "markdown" && flags.format != "json" && flags.format != "csv") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be markdown, json or csv, got \"", flags.format, "\""));
  }
  MEMR1_ASSIGN_OR_RETURN(const std::vector<eval::ScoreInput> items,
                         eval::ReadScoreInput(flags.input));
  std::unique_ptr<eval::JudgeClient> judge;
  if (flags.judge) {
    MEMR1_ASSIGN_OR_RETURN(judge, MakeJudge(flags));
  }
  MEMR1_ASSIGN_OR_RETURN(const std::vector<eval::ScoredItem> scored,
                         eval::ScoreItems(items, judge.get()));
  if (!flags.output.empty()) {
    MEMR1_RETURN_IF_ERROR(WriteText(flags.output, eval::ScoredItemsToJsonl(scored)));
  }
  const eval::ScoreReport report = eval::MakeReport(scored);
  std::string table;
  if (flags.format == "json") {
    table = report.ToJson(naming);
  } else if (flags.format == "csv") {
    table = report.ToCsv(naming);
  } else {
    table = report.ToMarkdown(naming);
  }
  if (!flags.report.empty()) MEMR1_RETURN_IF_ERROR(WriteText(flags.report, table));
  std::cout << table;
  return absl::OkStatus();
}

void RegisterScoreCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<ScoreFlags>();
  CLI::App* score = app.add_subcommand(
      "score",
      "Score predictions (JSONL: id, question, gold, prediction, category) with EM, F1, "
      "LoCoMo F1, BLEU-1 and optionally an LLM judge; prints the per-category table");
  score->add_option("--input", flags->input, "Predictions, one JSON object per line")
      ->required()
      ->check(CLI::ExistingFile);
  score->add_option("--output", flags->output,
                    "Per-item scores (JSONL: id, category, em, f1, f1_locomo, bleu1[, judge])");
  score->add_option("--report", flags->report, "Also write the table to this file");
  score->add_option("--format", flags->format, "Table format: markdown, json or csv")
      ->capture_default_str();
  score->add_option("--names", flags->names,
                    "Category names: locomo (official), mem0, longmemeval, msc or numeric")
      ->capture_default_str();
  score->add_flag("--judge", flags->judge,
                  "Also ask an OpenAI-compatible LLM judge (CORRECT/WRONG), averaged over "
                  "repeats");
  score->add_option("--config", flags->config, "Job config whose eval.judge section is used")
      ->check(CLI::ExistingFile);
  score->add_option("--set", flags->overrides, "Override one config field (repeatable)")
      ->take_all();
  score->add_option("--judge-url", flags->judge_url,
                    "Judge base URL, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1");
  score->add_option("--judge-model", flags->judge_model, "Judge model name");
  score->add_option("--judge-api-key-env", flags->judge_key_env,
                    "Environment variable holding the judge API key (default OPENAI_API_KEY)");
  score->add_option("--judge-repeats", flags->judge_repeats, "Judgements per item (averaged)");
  score->add_option("--judge-timeout-ms", flags->judge_timeout_ms, "Deadline of each request");
  score->add_option("--judge-retries", flags->judge_retries, "Retries per judgement");
  runner.Bind(score, [flags]() { return RunScore(*flags); });
}

const CommandRegistration kRegistration(45, RegisterScoreCommand);

}  // namespace
}  // namespace memr1::cli
