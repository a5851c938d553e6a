// `memr1 launch`: a whole job on this machine as child processes (job/launcher.h).

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "job/launcher.h"

namespace memr1::cli {
namespace {

struct LaunchFlags {
  ConfigFlags config;
  bool resume = false;
  int timeout_seconds = 0;
};

absl::Status RunLaunchCommand(const LaunchFlags& flags) {
  // Ctrl-C stops the job cleanly (the children are stopped, TERM then KILL).
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  job::LaunchOptions options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  options.resume = flags.resume;
  options.job_timeout = absl::Seconds(flags.timeout_seconds);
  options.out = &std::cout;
  MEMR1_ASSIGN_OR_RETURN(const job::LaunchResult result, job::RunLaunch(options, shutdown.get()));
  std::cout << "launch: done; logs in " << result.output_dir << "/logs, metrics in "
            << result.output_dir << "/metrics, checkpoints in " << result.output_dir
            << "/checkpoints" << std::endl;
  return absl::OkStatus();
}

void RegisterLaunchCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<LaunchFlags>();
  CLI::App* command = app.add_subcommand(
      "launch",
      "Run a whole job on this machine: coordinator, memstore shards, learners (mpirun) and "
      "actors as child processes, with prefixed logs and progress");
  AddConfigFlags(command, &flags->config);
  command->add_flag("--resume", flags->resume,
                    "Continue the job in output_dir from its latest checkpoint");
  command->add_option("--timeout", flags->timeout_seconds,
                      "Stop the job after this many seconds (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  runner.Bind(command, [flags]() { return RunLaunchCommand(*flags); });
}

const CommandRegistration kRegistration(77, RegisterLaunchCommand);

}  // namespace
}  // namespace memr1::cli
