// `memr1 rollout`: the episodes of one training stage (actor.train_agent) over the train split,
// run in this process; their trajectories go to a JSON-lines file that `memr1 learner offline`
// trains on.

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "actor/rollout.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"
#include "learner/trajectory_io.h"

namespace memr1::cli {
namespace {

struct RolloutFlags {
  ConfigFlags config;
  int64_t episodes = 1;
  bool bank_demos = false;
  std::string output;
};

absl::Status RunRollout(const RolloutFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job,
                         LoadJobConfig(flags.config.path, flags.config.overrides));
  actor::RolloutOptions options;
  options.episodes = flags.episodes;
  options.bank_demos = flags.bank_demos;
  options.progress = &std::cerr;
  MEMR1_ASSIGN_OR_RETURN(const actor::RolloutSummary summary, actor::RunRollouts(job, options));
  // Written only when every episode succeeded (atomically: a reader never sees half a file).
  MEMR1_RETURN_IF_ERROR(learner::WriteTrajectoriesJsonl(flags.output, summary.trajectories));
  std::cout << absl::StrFormat(
      "%s: %d episodes, %d trajectories (%d of bank building), mean episode reward %.4f, %d "
      "groups with equal rewards\n",
      summary.agent, summary.episodes, summary.trajectories.size(), summary.bank_demos,
      summary.mean_reward, summary.flat_groups);
  for (const auto& [kind, count] : summary.format_failures) {
    std::cout << "format failures " << kind << ": " << count << "\n";
  }
  std::cout << "wrote " << flags.output << "\n";
  return absl::OkStatus();
}

void RegisterRolloutCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<RolloutFlags>();
  CLI::App* rollout = app.add_subcommand(
      "rollout",
      "Run training episodes of actor.train_agent on the train split; write trajectories");
  AddConfigFlags(rollout, &flags->config);
  rollout->add_option("--episodes", flags->episodes, "Episodes (GRPO groups) to run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  rollout->add_flag("--bank-demos", flags->bank_demos,
                    "Memory Manager: also write every bank-building call (every turn of the train "
                    "split) as a trajectory, e.g. teacher demonstrations for supervised training");
  rollout->add_option("--output", flags->output, "Trajectories (JSON lines) to write")->required();
  runner.Bind(rollout, [flags]() { return RunRollout(*flags); });
}

const CommandRegistration kRegistration(65, RegisterRolloutCommand);

}  // namespace
}  // namespace memr1::cli
