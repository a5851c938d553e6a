// `memr1 learner offline`: PPO/GRPO updates from stored trajectories, with JSONL metrics and
// checkpoints. Run directly for one rank, or under mpirun/srun for data-parallel ranks.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"
#include "learner/checkpoint.h"
#include "learner/communicator.h"
#include "learner/trainer.h"
#include "learner/trajectory_io.h"

namespace memr1::cli {

namespace {

namespace fs = std::filesystem;

struct OfflineFlags {
  ConfigFlags config;
  std::string trajectories;
  int steps = 0;
  bool resume = false;
};

// The number of processes the launcher started (1 when run directly). Read from the variables
// mpirun and srun define; not a memr1 knob.
int LaunchedProcesses() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  }
  return 1;
}

absl::Status RunOffline(const OfflineFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job,
                         LoadJobConfig(flags.config.path, flags.config.overrides));
  const v1::LearnerConfig& l = job.learner();
  const int processes = LaunchedProcesses();
  if (processes != l.num_ranks()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.num_ranks is ", l.num_ranks(), " but ", processes,
        " process(es) were launched (run with mpirun -np ", l.num_ranks(),
        ", or --set learner.num_ranks=", processes, ")"));
  }
  const std::string kind =
      processes == 1 ? "single" : (l.communicator() == v1::LearnerConfig::NCCL ? "nccl" : "mpi");
  MEMR1_ASSIGN_OR_RETURN(auto comm, learner::MakeCommunicator(kind));
  const bool leader = comm->rank() == 0;

  MEMR1_ASSIGN_OR_RETURN(learner::TrainerModels models, learner::LoadTrainerModels(job));
  const int64_t vocab = models.policy->config().vocab_size;
  MEMR1_ASSIGN_OR_RETURN(const std::vector<v1::Trajectory> data,
                         learner::ReadTrajectoriesJsonl(flags.trajectories, vocab));
  if (data.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flags.trajectories, " holds no trajectories"));
  }
  MEMR1_ASSIGN_OR_RETURN(auto trainer, learner::Trainer::Create(job, std::move(models), comm.get()));

  const fs::path output(job.output_dir());
  learner::CheckpointManager checkpoints((output / "checkpoints").string(), comm.get());
  int64_t cursor = 0;
  if (flags.resume) {
    auto latest = checkpoints.LoadLatest();
    if (latest.ok()) {
      MEMR1_ASSIGN_OR_RETURN(const std::string state, trainer->Restore(*latest));
      cursor = nlohmann::json::parse(state, nullptr, false).value("cursor", int64_t{0});
      if (leader) std::cout << "resumed from step " << trainer->steps() << "\n";
    } else if (latest.status().code() != absl::StatusCode::kNotFound) {
      return latest.status();
    }
  }
  std::error_code ec;
  fs::create_directories(output, ec);
  std::ofstream metrics;
  if (leader) {
    metrics.open(output / "metrics.jsonl", std::ios::app);
    if (!metrics) return absl::PermissionDeniedError(
          absl::StrCat("cannot write ", (output / "metrics.jsonl").string()));
    std::cout << "learner: " << data.size() << " trajectories, " << comm->world_size()
              << " rank(s) over " << comm->name() << ", steps " << trainer->steps() << " -> "
              << flags.steps << "\n";
  }
  const std::string config_yaml = MessageToYaml(job);
  const int64_t batch = l.global_batch_size();
  auto save = [&]() -> absl::Status {
    const std::string state = nlohmann::json{{"cursor", cursor}}.dump();
    MEMR1_ASSIGN_OR_RETURN(const std::string dir, trainer->Save(checkpoints, config_yaml, state));
    if (leader) std::cout << "checkpoint " << dir << "\n";
    return absl::OkStatus();
  };
  while (trainer->steps() < flags.steps) {
    std::vector<v1::Trajectory> global;
    global.reserve(batch);
    for (int64_t i = 0; i < batch; ++i) global.push_back(data[(cursor + i) % data.size()]);
    cursor = (cursor + batch) % static_cast<int64_t>(data.size());
    MEMR1_ASSIGN_OR_RETURN(const learner::StepMetrics m, trainer->Step(global));
    if (leader) {
      metrics << m.ToJson() << "\n";
      metrics.flush();
      std::cout << absl::StrFormat(
          "step %d/%d loss %.4f reward %.3f kl %.4g entropy %.3f clip %.3f grad_norm %.3g "
          "lr %.3g %.0f tokens/s\n",
          m.step, flags.steps, m.loss, m.reward_mean, m.kl, m.entropy, m.clip_fraction,
          m.grad_norm, m.lr, m.tokens_per_second);
    }
    const bool periodic = l.checkpoint_every() > 0 && m.step % l.checkpoint_every() == 0;
    if (periodic || m.step == flags.steps) MEMR1_RETURN_IF_ERROR(save());
  }
  return absl::OkStatus();
}

void RegisterLearnerCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* learner = app.add_subcommand("learner", "Train the policy with PPO or GRPO");
  learner->require_subcommand(1);
  auto flags = std::make_shared<OfflineFlags>();
  CLI::App* offline = learner->add_subcommand(
      "offline",
      "Run updates from stored trajectories (JSON lines); metrics go to <output_dir>/metrics.jsonl, "
      "checkpoints to <output_dir>/checkpoints");
  AddConfigFlags(offline, &flags->config);
  offline->add_option("--trajectories", flags->trajectories, "Trajectory JSON-lines file")
      ->required()
      ->check(CLI::ExistingFile);
  offline->add_option("--steps", flags->steps, "Train until this many steps are done")
      ->required()
      ->check(CLI::PositiveNumber);
  offline->add_flag("--resume", flags->resume,
                    "Continue from the latest checkpoint in <output_dir>/checkpoints, if any");
  runner.Bind(offline, [flags]() { return RunOffline(*flags); });
}

const CommandRegistration kRegistration(70, RegisterLearnerCommands);

}  // namespace
}  // namespace memr1::cli
