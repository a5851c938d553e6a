// `memr1 learner run`: one data-parallel learner rank of a distributed job (job/learner_role.h).
// Registered under the `learner` group that cli/learner_command.cc creates (a later order).

#include <memory>

#include "cli/command.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "job/learner_role.h"

namespace memr1::cli {
namespace {

struct RunFlags {
  ConfigFlags config;
  std::string coordinator;
  bool resume = false;
};

absl::Status RunLearner(const RunFlags& flags) {
  // Block SIGINT/SIGTERM before any thread starts (MPI, gRPC and LibTorch start threads).
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  job::LearnerRoleOptions options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  options.coordinator = flags.coordinator;
  options.resume = flags.resume;
  return job::RunLearnerRole(options, shutdown.get());
}

void RegisterLearnerRunCommand(CLI::App& app, CommandRunner& runner) {
  CLI::App* learner = app.get_subcommand("learner");
  auto flags = std::make_shared<RunFlags>();
  CLI::App* run = learner->add_subcommand(
      "run",
      "One learner rank of a distributed job (under mpirun/srun for several ranks): ingests "
      "trajectories, trains each step, rank 0 publishes the weights");
  AddConfigFlags(run, &flags->config);
  run->add_option("--coordinator", flags->coordinator, "host:port of the job's coordinator")
      ->required();
  run->add_flag("--resume", flags->resume,
                "Restore the latest checkpoint in <output_dir>/checkpoints and continue");
  runner.Bind(run, [flags]() { return RunLearner(*flags); });
}

// After cli/learner_command.cc (order 70), which creates the `learner` group.
const CommandRegistration kRegistration(71, RegisterLearnerRunCommand);

}  // namespace
}  // namespace memr1::cli
