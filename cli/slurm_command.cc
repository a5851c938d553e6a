// `memr1 slurm submit`: write a job's Slurm batch script and submit it (job/slurm_submit.h).
// `memr1 slurm prepare` and `memr1 slurm shards`: the steps the batch script runs inside the
// allocation (job/slurm_layout.h).

#include <unistd.h>

#include <climits>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "common/status_macros.h"
#include "job/slurm_layout.h"
#include "job/slurm_submit.h"

namespace memr1::cli {
namespace {

absl::StatusOr<std::string> SelfExecutable() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return absl::InternalError("cannot resolve /proc/self/exe");
  return std::string(buffer, static_cast<size_t>(n));
}

struct SubmitFlags {
  ConfigFlags config;
  job::SlurmSubmitOptions options;
  std::string template_path;
  bool dry_run = false;
};

absl::Status Submit(SubmitFlags flags) {
  job::SlurmSubmitOptions& options = flags.options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  MEMR1_ASSIGN_OR_RETURN(const std::string self, SelfExecutable());
  if (options.memr1_binary.empty()) options.memr1_binary = self;
  MEMR1_ASSIGN_OR_RETURN(options.template_text,
                         job::FindSlurmTemplate(self, flags.template_path));
  MEMR1_ASSIGN_OR_RETURN(const job::SlurmScript script, job::RenderSlurmScript(options));
  if (flags.dry_run) {
    std::cout << script.text;
    return absl::OkStatus();
  }
  MEMR1_ASSIGN_OR_RETURN(const std::string id, job::SubmitSlurmScript(script));
  std::cout << "slurm: submitted batch job " << id << "\n"
            << "  script: " << script.path << "\n"
            << "  output: " << script.output_dir << "/slurm/slurm-" << id << ".out (roles' logs in "
            << script.output_dir << "/logs)\n"
            << "  status: squeue -j " << id << "; memr1 status --config " << script.output_dir
            << "/job.yaml --coordinator $(cat " << script.output_dir << "/addresses/coordinator)"
            << std::endl;
  return absl::OkStatus();
}

struct PrepareFlags {
  ConfigFlags config;
  std::string nodes;
  std::string learner_group;
  std::string service_group;
  int gpus_per_node = 0;
  int learner_nodes = 0;
  bool resume = false;
};

absl::Status Prepare(const PrepareFlags& flags) {
  job::SlurmPrepareOptions options;
  options.config_path = flags.config.path;
  options.overrides = flags.config.overrides;
  options.resume = flags.resume;
  if (!flags.nodes.empty()) {
    MEMR1_ASSIGN_OR_RETURN(options.layout.nodes, job::ParseSlurmNodes(flags.nodes));
  }
  if (!flags.learner_group.empty()) {
    MEMR1_ASSIGN_OR_RETURN(options.layout.learner_group, job::ParseSlurmNodes(flags.learner_group));
  }
  if (!flags.service_group.empty()) {
    MEMR1_ASSIGN_OR_RETURN(options.layout.service_group, job::ParseSlurmNodes(flags.service_group));
  }
  options.layout.gpus_per_node = flags.gpus_per_node;
  options.layout.learner_nodes = flags.learner_nodes;
  MEMR1_ASSIGN_OR_RETURN(const job::SlurmPrepared prepared, job::PrepareSlurmJob(options));
  std::cout << job::FormatSlurmAssignments(prepared) << std::flush;
  return absl::OkStatus();
}

struct ShardsFlags {
  std::string job_yaml;
  std::string shards;
};

absl::Status RecordShards(const ShardsFlags& flags) {
  const std::vector<std::string> shards = absl::StrSplit(flags.shards, ',', absl::SkipEmpty());
  return job::RecordShardAddresses(flags.job_yaml, shards);
}

void RegisterSlurmCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* slurm = app.add_subcommand("slurm", "Run a job on a Slurm cluster (deploy/slurm/)");
  slurm->require_subcommand(1);

  auto submit_flags = std::make_shared<SubmitFlags>();
  job::SlurmSubmitOptions& o = submit_flags->options;
  CLI::App* submit = slurm->add_subcommand(
      "submit",
      "Write the job's batch script to <output_dir>/slurm/memr1.sbatch and submit it with sbatch "
      "(prints the job id)");
  AddConfigFlags(submit, &submit_flags->config);
  submit->add_flag("--dry-run", submit_flags->dry_run, "Print the script; write and submit nothing");
  submit->add_option("--nodes", o.nodes,
                     "Nodes (default: learner nodes + ceil(actors / GPUs per node); 1 for CPU)")
      ->check(CLI::NonNegativeNumber);
  submit->add_option("--learner-nodes", o.learner_nodes,
                     "Nodes for the learner ranks (default: ceil(ranks / GPUs per node))")
      ->check(CLI::NonNegativeNumber);
  submit->add_option("--gpus-per-node", o.gpus_per_node,
                     "GPUs per node (default: 8 when model.device is cuda, else 0)")
      ->check(CLI::NonNegativeNumber);
  submit->add_flag("--het", o.heterogeneous,
                   "A heterogeneous job: learner nodes and the rest as two components");
  submit->add_option("--time", o.time_limit, "sbatch --time, e.g. 24:00:00");
  submit->add_option("--partition", o.partition, "sbatch --partition");
  submit->add_option("--account", o.account, "sbatch --account");
  submit->add_option("--sbatch-arg", o.sbatch_args,
                     "Another sbatch option for the script, e.g. --sbatch-arg=--qos=high "
                     "(repeatable)");
  submit->add_option("--mpi", o.mpi, "How learner ranks start: auto, pmix or mpirun")
      ->capture_default_str();
  submit->add_option("--signal-seconds", o.signal_seconds,
                     "USR1 this long before the time limit: stop, requeue, resume")
      ->capture_default_str();
  submit->add_option("--max-failure-requeues", o.max_failure_requeues,
                     "Requeues after a failed role before the job is given up")
      ->capture_default_str();
  submit->add_option("--stop-grace-seconds", o.stop_grace_seconds,
                     "Seconds the roles get to exit after SIGTERM before SIGKILL")
      ->capture_default_str();
  submit->add_flag("--resume", o.resume,
                   "Continue the job in output_dir from its latest checkpoint");
  submit->add_option("--memr1", o.memr1_binary,
                     "The memr1 binary the nodes run (default: this one)");
  submit->add_option("--template", submit_flags->template_path,
                     "The batch script template (default: deploy/slurm/memr1.sbatch next to "
                     "this build, or share/memr1/slurm/ of an installed memr1)");
  runner.Bind(submit, [submit_flags]() { return Submit(*submit_flags); });

  auto prepare_flags = std::make_shared<PrepareFlags>();
  CLI::App* prepare = slurm->add_subcommand(
      "prepare",
      "Inside the allocation (the batch script runs it): lay the roles out, write "
      "<output_dir>/job.yaml, roll back on --resume; prints bash assignments");
  AddConfigFlags(prepare, &prepare_flags->config);
  prepare->add_option("--nodes", prepare_flags->nodes, "The allocation: name=addr,name=addr...");
  prepare->add_option("--learner-group", prepare_flags->learner_group,
                      "Heterogeneous job: the learners' component, name=addr,...");
  prepare->add_option("--service-group", prepare_flags->service_group,
                      "Heterogeneous job: the other component, name=addr,...");
  prepare->add_option("--gpus-per-node", prepare_flags->gpus_per_node, "GPUs per node (0: CPU)")
      ->check(CLI::NonNegativeNumber);
  prepare->add_option("--learner-nodes", prepare_flags->learner_nodes,
                      "Nodes for the learner ranks (0: derived)")
      ->check(CLI::NonNegativeNumber);
  prepare->add_flag("--resume", prepare_flags->resume,
                    "Continue the job in output_dir from the learners' latest checkpoint");
  runner.Bind(prepare, [prepare_flags]() { return Prepare(*prepare_flags); });

  auto shards_flags = std::make_shared<ShardsFlags>();
  CLI::App* shards = slurm->add_subcommand(
      "shards", "Inside the allocation: record the serving shards' addresses in job.yaml");
  shards->add_option("--job-yaml", shards_flags->job_yaml, "The job's resolved config")
      ->required()
      ->check(CLI::ExistingFile);
  shards->add_option("--shards", shards_flags->shards, "host:port,host:port... in shard order")
      ->required();
  runner.Bind(shards, [shards_flags]() { return RecordShards(*shards_flags); });
}

const CommandRegistration kRegistration(78, RegisterSlurmCommands);

}  // namespace
}  // namespace memr1::cli
