// `memr1 plan`: per-GPU memory estimate of a job, whether it fits, and what to change if not.

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"
#include "learner/memory_planner.h"

namespace memr1::cli {

namespace {

struct PlanFlags {
  ConfigFlags config;
  int gpus = 0;
  std::string gpu_memory = "80GiB";
  bool separate_rollout = false;
};

absl::Status RunPlan(const PlanFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job,
                         LoadJobConfig(flags.config.path, flags.config.overrides));
  learner::PlanOptions options;
  options.num_gpus = flags.gpus > 0 ? flags.gpus : job.learner().num_ranks();
  MEMR1_ASSIGN_OR_RETURN(options.gpu_memory_bytes, learner::ParseByteSize(flags.gpu_memory));
  options.colocated_rollout = !flags.separate_rollout;
  MEMR1_ASSIGN_OR_RETURN(const learner::MemoryPlan plan, learner::PlanMemory(job, options));
  std::cout << learner::FormatMemoryPlan(job, options, plan);
  if (!plan.fits) {
    return absl::FailedPreconditionError(absl::StrCat(
        flags.config.path, " does not fit on ", options.num_gpus, " GPU(s) of ", flags.gpu_memory));
  }
  return absl::OkStatus();
}

void RegisterPlanCommand(CLI::App& app, CommandRunner& runner) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* plan = app.add_subcommand(
      "plan", "Estimate per-GPU memory of a training job and say whether it fits (exit 1 if not)");
  AddConfigFlags(plan, &flags->config);
  plan->add_option("--gpus", flags->gpus,
                   "Data-parallel GPUs, one learner rank each (default: learner.num_ranks)")
      ->check(CLI::PositiveNumber);
  plan->add_option("--gpu-memory", flags->gpu_memory, "Memory of one GPU, e.g. 80GiB, 141GB")
      ->capture_default_str();
  plan->add_flag("--separate-rollout-gpus", flags->separate_rollout,
                 "Actors run on other GPUs: leave the rollout KV cache out");
  runner.Bind(plan, [flags]() { return RunPlan(*flags); });
}

const CommandRegistration kRegistration(60, RegisterPlanCommand);

}  // namespace
}  // namespace memr1::cli
