// `memr1 data stats|synth`: dataset statistics per split and category, and the synthetic
// memory world.

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "actor/dataset.h"
#include "actor/locomo.h"
#include "actor/longmemeval.h"
#include "actor/synthetic_world.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "eval/categories.h"

namespace memr1::cli {
namespace {

struct StatsFlags {
  std::string dataset = "locomo";
  std::string path;
  bool include_adversarial = false;
  int train = -1;  // -1: the dataset's default split
  int validation = -1;
  int test = -1;
  std::string format = "markdown";
  std::string names;
};

// LoCoMo-shaped files split 1/1/8 by default (the paper's split); the transfer sets are all
// test data.
actor::SplitSpec DefaultSplit(actor::DatasetKind kind, const StatsFlags& flags) {
  actor::SplitSpec spec;
  if (kind == actor::DatasetKind::kLongMemEval || kind == actor::DatasetKind::kMsc) {
    spec = {0, 0, -1};
  } else if (kind == actor::DatasetKind::kSynthetic) {
    spec = {0, 0, -1};
  }
  if (flags.train >= 0) spec.train = flags.train;
  if (flags.validation >= 0) spec.validation = flags.validation;
  if (flags.test >= 0) spec.test = flags.test;
  return spec;
}

// LongMemEval M is too large to hold: count while streaming.
absl::StatusOr<actor::DatasetStats> StreamLongMemEvalStats(const std::string& path,
                                                           const actor::SplitSpec& spec) {
  actor::DatasetStats stats;
  int64_t index = 0;
  MEMR1_RETURN_IF_ERROR(actor::StreamLongMemEval(
      path, actor::LoadOptions{}, [&](actor::Conversation&& conversation) {
        actor::SplitStats* target = nullptr;
        if (index < spec.train) {
          target = &stats.train;
        } else if (index < spec.train + spec.validation) {
          target = &stats.validation;
        } else if (spec.test < 0 || index < spec.train + spec.validation + spec.test) {
          target = &stats.test;
        }
        ++index;
        if (target != nullptr) {
          actor::AddToStats(conversation, target);
          actor::AddToStats(conversation, &stats.all);
        }
        return absl::OkStatus();
      }));
  const int64_t needed =
      spec.train + spec.validation + (spec.test < 0 ? 0 : static_cast<int64_t>(spec.test));
  if (needed > index) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": split needs ", needed,
                                                   " instances but the file has ", index));
  }
  return stats;
}

absl::Status RunStats(const StatsFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const actor::DatasetKind kind, actor::ParseDatasetKind(flags.dataset));
  eval::CategoryNaming naming = actor::CategoryNamingFor(kind);
  if (!flags.names.empty()) {
    MEMR1_ASSIGN_OR_RETURN(naming, eval::ParseCategoryNaming(flags.names));
  }
  if (flags.format != "markdown" && flags.format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be markdown or json, got \"", flags.format, "\""));
  }
  const actor::SplitSpec spec = DefaultSplit(kind, flags);
  actor::DatasetStats stats;
  if (kind == actor::DatasetKind::kLongMemEval) {
    MEMR1_ASSIGN_OR_RETURN(stats, StreamLongMemEvalStats(flags.path, spec));
  } else {
    actor::LoadOptions options;
    options.include_adversarial = flags.include_adversarial;
    MEMR1_ASSIGN_OR_RETURN(const actor::Dataset dataset,
                           actor::LoadDataset(kind, flags.path, options));
    MEMR1_ASSIGN_OR_RETURN(const actor::DatasetSplits splits, actor::SplitDataset(dataset, spec));
    stats = actor::ComputeStats(splits);
  }
  if (flags.format == "json") {
    std::cout << actor::StatsToJson(stats, naming);
  } else {
    std::cout << actor::StatsToMarkdown(stats, naming);
  }
  return absl::OkStatus();
}

struct SynthFlags {
  uint64_t seed = 0;
  int conversations = 0;
  int sessions = 0;
  int turns = 0;
  int questions = 0;
  double fact_probability = 0;
  std::string output;
};

absl::Status RunSynth(const SynthFlags& flags) {
  actor::SyntheticWorldOptions options;
  options.seed = flags.seed;
  options.conversations = flags.conversations;
  options.sessions_per_conversation = flags.sessions;
  options.turns_per_session = flags.turns;
  options.questions_per_conversation = flags.questions;
  options.fact_probability = flags.fact_probability;
  MEMR1_ASSIGN_OR_RETURN(const actor::Dataset world, actor::GenerateSyntheticWorld(options));
  MEMR1_RETURN_IF_ERROR(actor::WriteLocomo(world, flags.output));
  actor::SplitStats stats;
  for (const actor::Conversation& conversation : world.conversations) {
    actor::AddToStats(conversation, &stats);
  }
  std::cout << "wrote " << flags.output << ": " << stats.conversations << " conversations, "
            << stats.sessions << " sessions, " << stats.turns << " turns, " << stats.questions
            << " questions (seed " << flags.seed << ")\n";
  return absl::OkStatus();
}

void RegisterDataCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* data = app.add_subcommand("data", "Inspect datasets and generate the synthetic world");
  data->require_subcommand(1);

  auto stats_flags = std::make_shared<StatsFlags>();
  CLI::App* stats = data->add_subcommand(
      "stats", "Count conversations, sessions, turns and questions per split and category");
  stats->add_option("--dataset", stats_flags->dataset, "locomo, longmemeval, msc or synthetic")
      ->capture_default_str();
  stats->add_option("--path", stats_flags->path, "The dataset file")
      ->required()
      ->check(CLI::ExistingFile);
  stats->add_flag("--include-adversarial", stats_flags->include_adversarial,
                  "Count LoCoMo's category-5 (adversarial) questions too");
  stats->add_option("--train", stats_flags->train,
                    "Conversations in the train split (default: 1 for LoCoMo, else 0)");
  stats->add_option("--validation", stats_flags->validation,
                    "Conversations in the validation split (default: 1 for LoCoMo, else 0)");
  stats->add_option("--test", stats_flags->test,
                    "Conversations in the test split (default: 8 for LoCoMo, else the rest)");
  stats->add_option("--format", stats_flags->format, "markdown or json")->capture_default_str();
  stats->add_option("--names", stats_flags->names,
                    "Category names: locomo (official), mem0, longmemeval, msc or numeric "
                    "(default: the dataset's own)");
  runner.Bind(stats, [stats_flags]() { return RunStats(*stats_flags); });

  const v1::SyntheticWorldConfig defaults;
  auto synth_flags = std::make_shared<SynthFlags>();
  synth_flags->conversations = defaults.conversations();
  synth_flags->sessions = defaults.sessions_per_conversation();
  synth_flags->turns = defaults.turns_per_session();
  synth_flags->questions = defaults.questions_per_conversation();
  synth_flags->fact_probability = defaults.fact_probability();
  CLI::App* synth = data->add_subcommand(
      "synth", "Write a seeded synthetic memory world as a LoCoMo-format JSON file");
  synth->add_option("--seed", synth_flags->seed, "Seed (same seed and sizes: identical file)")
      ->capture_default_str();
  synth->add_option("--conversations", synth_flags->conversations, "Conversations")
      ->capture_default_str();
  synth->add_option("--sessions", synth_flags->sessions, "Sessions per conversation")
      ->capture_default_str();
  synth->add_option("--turns", synth_flags->turns, "Turns per session")->capture_default_str();
  synth->add_option("--questions", synth_flags->questions,
                    "Questions per conversation (at most)")
      ->capture_default_str();
  synth->add_option("--fact-probability", synth_flags->fact_probability,
                    "Probability that a turn is about a fact")
      ->capture_default_str();
  synth->add_option("--output", synth_flags->output, "Output file")->required();
  runner.Bind(synth, [synth_flags]() { return RunSynth(*synth_flags); });
}

const CommandRegistration kRegistration(40, RegisterDataCommands);

}  // namespace
}  // namespace memr1::cli
