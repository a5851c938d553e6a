// `memr1 quickstart`: Memory-R1 trained end to end on this machine (job/quickstart.h).

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "job/quickstart.h"

namespace memr1::cli {
namespace {

struct QuickstartFlags {
  ConfigFlags config;
  std::string seeds = "1,2,3";
  job::QuickstartOptions options;
};

absl::Status RunQuickstartCommand(QuickstartFlags& flags) {
  // Ctrl-C stops the running stage's child; a rerun redoes that stage and skips finished ones.
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  job::QuickstartOptions options = flags.options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  options.seeds.clear();
  for (absl::string_view part : absl::StrSplit(flags.seeds, ',', absl::SkipWhitespace())) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(part, &seed)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seeds: '", part, "' is not a seed (want e.g. 1,2,3)"));
    }
    options.seeds.push_back(seed);
  }
  options.out = &std::cout;
  return job::RunQuickstart(options, shutdown.get());
}

void RegisterQuickstartCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<QuickstartFlags>();
  job::QuickstartOptions& o = flags->options;
  CLI::App* command = app.add_subcommand(
      "quickstart",
      "Memory-R1 end to end on this machine: synthetic world, tokenizer and tiny model from "
      "scratch, teacher warm start, RL of both agents per seed (memr1 launch), evaluation, "
      "report and plots; finished stages are cached");
  AddConfigFlags(command, &flags->config);
  command->add_option("--seeds", flags->seeds, "RL seeds, comma-separated")->capture_default_str();
  command->add_option("--vocab-size", o.vocab_size, "Tokenizer ids")->capture_default_str();
  command->add_option("--hidden-size", o.hidden_size, "Model width")->capture_default_str();
  command->add_option("--intermediate-size", o.intermediate_size, "MLP width")
      ->capture_default_str();
  command->add_option("--layers", o.num_layers, "Decoder layers")->capture_default_str();
  command->add_option("--heads", o.num_heads, "Attention heads")->capture_default_str();
  command->add_option("--kv-heads", o.num_kv_heads, "Key/value heads")->capture_default_str();
  command->add_option("--pretrain-epochs", o.pretrain_epochs, "LM pretraining epochs")
      ->capture_default_str();
  command->add_option("--pretrain-seq-len", o.pretrain_seq_len, "LM pretraining sequence length")
      ->capture_default_str();
  command->add_option("--pretrain-lr", o.pretrain_lr, "LM pretraining learning rate")
      ->capture_default_str();
  command
      ->add_option("--demo-episodes", o.demo_episodes,
                   "Teacher episodes of the answer agent (the manager: every bank-building turn, "
                   "plus a tenth as many episodes)")
      ->capture_default_str();
  command->add_option("--sft-epochs", o.sft_epochs, "Warm-start SFT epochs")
      ->capture_default_str();
  command->add_option("--sft-lr", o.sft_lr, "Warm-start SFT learning rate")->capture_default_str();
  command->add_option("--manager-lr", o.manager_lr, "RL learning rate of the memory manager")
      ->capture_default_str();
  command->add_option("--answer-lr", o.answer_lr, "RL learning rate of the answer agent")
      ->capture_default_str();
  runner.Bind(command, [flags]() { return RunQuickstartCommand(*flags); });
}

const CommandRegistration kRegistration(78, RegisterQuickstartCommand);

}  // namespace
}  // namespace memr1::cli
