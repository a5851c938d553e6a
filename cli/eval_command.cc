// `memr1 eval`: build memory banks with the configured Memory Manager, answer
// the split's questions with the Answer Agent, and write predictions and the
// per-category report — or run one of the baselines (full context, LoCoMo-RAG,
// Mem0-style untrained, ADD-only).

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "actor/evaluation.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"

namespace memr1::cli {
namespace {

struct EvalFlags {
  ConfigFlags config;
  std::string split;
  std::optional<int> limit;
  std::string pipeline;
  std::string output;
};

absl::Status RunEval(const EvalFlags& flags) {
  // The flags are shorthands for --set overrides, so they are checked like
  // config values.
  std::vector<std::string> overrides = flags.config.overrides;
  if (!flags.split.empty()) overrides.push_back(absl::StrCat("eval.split=", flags.split));
  if (flags.limit) overrides.push_back(absl::StrCat("eval.limit=", *flags.limit));
  if (!flags.pipeline.empty()) overrides.push_back(absl::StrCat("eval.pipeline=", flags.pipeline));
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job, LoadJobConfig(flags.config.path, overrides));
  actor::EvalRunOptions options;
  options.output_dir = flags.output;
  options.progress = &std::cerr;
  MEMR1_ASSIGN_OR_RETURN(const actor::EvalSummary summary, actor::RunEvaluation(job, options));
  std::cout << "# " << summary.pipeline << " on " << summary.split << " (" << summary.questions
            << " questions, " << summary.conversations << " conversations)\n\n"
            << summary.report.ToMarkdown(summary.naming) << "\n";
  const actor::BankBuildStats& banks = summary.bank_stats;
  if (summary.pipeline != "full_context") {
    std::cout << absl::StrFormat(
        "banks: %d reused; %d turns processed, %d "
        "facts, %d extraction failures, %d manager "
        "calls, %d manager format failures\n",
        summary.banks_reused, banks.turns, banks.facts, banks.extraction_failures,
        banks.manager_calls, banks.manager_failures);
  } else {
    std::cout << "contexts truncated to fit the prompt: " << summary.truncated_contexts << "\n";
  }
  std::cout << absl::StrFormat(
      "answers: %d format failures, %d memories left "
      "out for the prompt budget; %.1f s\n",
      summary.answer_format_failures, summary.memories_dropped_for_budget, summary.seconds);
  std::cout << "wrote " << summary.output_dir << "/{predictions.jsonl,report.md,report.json,"
            << "report.csv}\n";
  return absl::OkStatus();
}

void RegisterEvalCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* eval = app.add_subcommand("eval",
                                      "Evaluate the memory agents (or a baseline) "
                                      "on a split: predictions and report");
  AddConfigFlags(eval, &flags->config);
  eval->add_option("--split", flags->split, "train | validation | test (default: eval.split)");
  eval->add_option("--limit", flags->limit, "At most this many questions; 0 = all (eval.limit)")
      ->check(CLI::NonNegativeNumber);
  eval->add_option("--pipeline", flags->pipeline,
                   "memory_r1 | mem0 | add_only | locomo_rag | full_context "
                   "(eval.pipeline)");
  eval->add_option("--output", flags->output,
                   "Directory for predictions and reports (default: "
                   "<output_dir>/eval/<pipeline>-<split>)");
  runner.Bind(eval, [flags]() { return RunEval(*flags); });
}

const CommandRegistration kRegistration(50, RegisterEvalCommand);

}  // namespace
}  // namespace memr1::cli
