#pragma once

// `memr1 slurm submit`: a job config turned into a Slurm batch script and submitted with
// sbatch.
//
// The script is the template deploy/slurm/memr1.sbatch (a working batch script by itself) with
// two parts filled in: the job's #SBATCH directives at the line "# @memr1-directives" and its
// settings between "# @memr1-settings-begin" and "# @memr1-settings-end" (the memr1 binary,
// the config and its overrides, GPUs per node, the MPI launcher, resume). The template's
// "#SBATCH --signal=" line is replaced by the one for `signal_seconds`.
//
// Directives, from the config and the options:
//  - --job-name=memr1-<config name>, --output=<output_dir>/slurm/slurm-%j.out;
//  - GPUs (gpus_per_node > 0): learner nodes = ceil(learner.num_ranks / gpus_per_node), actor
//    nodes = ceil(actor.num_actors / gpus_per_node) (one GPU per actor), --nodes = their sum
//    unless `nodes` is given, --gpus-per-node, --ntasks-per-node=gpus_per_node, --exclusive;
//  - CPU: --nodes = `nodes` (default 1), --ntasks-per-node = ceil(num_ranks / learner nodes);
//  - heterogeneous (`heterogeneous`): component 0 holds the learner nodes, component 1
//    (after "#SBATCH hetjob") the others; the script finds them in
//    SLURM_JOB_NODELIST_HET_GROUP_0/1 and runs each step in its component;
//  - --time, --partition, --account when given, then every `sbatch_args` entry verbatim.
//
// Thread safety: pure functions, apart from SubmitSlurmScript (files and a child process).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace memr1::job {

struct SlurmSubmitOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  // The memr1 binary the job runs (absolute; on a file system the nodes see).
  std::string memr1_binary;
  // deploy/slurm/memr1.sbatch's text.
  std::string template_text;
  // Total nodes; 0: derived (see the file comment).
  int nodes = 0;
  // Nodes for the learners; 0: derived.
  int learner_nodes = 0;
  // GPUs per node; -1: 8 when model.device is "cuda...", else 0.
  int gpus_per_node = -1;
  bool heterogeneous = false;
  // sbatch --time (e.g. "24:00:00"); empty: the partition's default.
  std::string time_limit;
  std::string partition;
  std::string account;
  // Extra sbatch options, each one "#SBATCH <arg>" line (e.g. "--qos=high").
  std::vector<std::string> sbatch_args;
  // How learner ranks start: "auto" (srun --mpi=pmix when Slurm lists pmix, else mpirun inside
  // the allocation), "pmix" or "mpirun".
  std::string mpi = "auto";
  // USR1 reaches the batch script this long before the time limit: the roles are stopped and
  // the job requeued, to resume from the latest checkpoint.
  int signal_seconds = 300;
  // Requeues after a role failed (a learner rank, a shard, the coordinator) before the job is
  // given up; preemption and time-limit requeues do not count.
  int max_failure_requeues = 3;
  // Continue the job already in output_dir (its latest checkpoint).
  bool resume = false;
  // How long the roles get to exit after SIGTERM (and after the job is done) before SIGKILL.
  int stop_grace_seconds = 30;

  // InvalidArgument naming the bad option.
  absl::Status Validate() const;
};

struct SlurmScript {
  std::string text;
  // Where SubmitSlurmScript writes it: <output_dir>/slurm/memr1.sbatch.
  std::string path;
  std::string output_dir;
};

// Renders the batch script. Errors: the config's (it is loaded and validated here, so a bad
// config fails before anything is queued); InvalidArgument for bad options or a template
// without the markers; FailedPrecondition for an output_dir that already holds a job without
// `resume`.
absl::StatusOr<SlurmScript> RenderSlurmScript(const SlurmSubmitOptions& options);

// Writes the script (mode 0700) and runs `sbatch --parsable <path>` (`sbatch` looked up in
// PATH; SLURM_CONF and the rest of the environment are passed through). Returns the job id.
// Blocks at most `timeout`. Errors: Internal naming sbatch's exit code and output;
// DeadlineExceeded; PermissionDenied for a script that cannot be written.
absl::StatusOr<std::string> SubmitSlurmScript(const SlurmScript& script,
                                              const std::string& sbatch = "sbatch",
                                              absl::Duration timeout = absl::Seconds(60));

// The batch script template: `explicit_path` when given, else the first of
// <exe dir>/../share/memr1/slurm/memr1.sbatch (an installed memr1) and
// <exe dir>/../../deploy/slurm/memr1.sbatch (a build tree), `exe` being the memr1 binary.
// NotFound naming every place looked at.
absl::StatusOr<std::string> FindSlurmTemplate(const std::string& exe,
                                              const std::string& explicit_path);

}  // namespace memr1::job
