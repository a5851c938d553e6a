// `memr1 actor`: one rollout actor of a distributed job (job/actor_role.h).

#include <memory>

#include "cli/command.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "job/actor_role.h"

namespace memr1::cli {
namespace {

struct ActorFlags {
  ConfigFlags config;
  std::string coordinator;
  std::string id;
};

absl::Status RunActor(const ActorFlags& flags) {
  // Block SIGINT/SIGTERM before any thread starts (gRPC and LibTorch start threads).
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  job::ActorRoleOptions options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  options.coordinator = flags.coordinator;
  options.id = flags.id;
  return job::RunActorRole(options, shutdown.get());
}

void RegisterActorCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<ActorFlags>();
  CLI::App* command = app.add_subcommand(
      "actor",
      "One rollout actor of a distributed job: leases work units, runs episodes, streams "
      "trajectories to the learners, keeps the newest weights");
  AddConfigFlags(command, &flags->config);
  command->add_option("--coordinator", flags->coordinator, "host:port of the job's coordinator")
      ->required();
  command->add_option("--id", flags->id, "Stable name of this actor (e.g. actor-0)")->required();
  runner.Bind(command, [flags]() { return RunActor(*flags); });
}

const CommandRegistration kRegistration(76, RegisterActorCommand);

}  // namespace
}  // namespace memr1::cli
