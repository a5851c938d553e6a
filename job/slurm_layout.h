#pragma once

// A memr1 job on a Slurm allocation: where each role runs, and the job directory the roles
// share. Used inside the allocation by the batch script deploy/slurm/memr1.sbatch through
// `memr1 slurm prepare` (PrepareSlurmJob) and `memr1 slurm shards` (RecordShardAddresses); the
// script starts the same role commands `memr1 launch` starts (job/launcher.h), as job steps.
//
// Layout (PlanSlurmLayout), from the allocation's nodes (Slurm's order, each with the NodeAddr
// its roles bind and are dialled on):
//  - learner nodes: a heterogeneous job's component 0; otherwise the first `learner_nodes`
//    nodes (default: ceil(num_ranks / gpus_per_node) with GPUs, min(nodes, num_ranks) without),
//    num_ranks ranks spread ceil(num_ranks / learner nodes) per node;
//  - service nodes (coordinator, memstore shards, actors): a heterogeneous job's component 1;
//    with GPUs the nodes after the learner nodes (all nodes when there are none); without GPUs
//    every node. The coordinator runs on the first service node, shard i on service node
//    i mod n, actor j on service node j mod n;
//  - GPUs (gpus_per_node > 0 and model.device "cuda..."): every learner rank and every actor
//    takes one GPU (srun --gpus-per-task=1); a node whose ranks and actors need more than
//    gpus_per_node is an error naming the node, as is a learner node count that does not fit.
//
// The job directory is <output_dir> (it must be on a file system every node sees), laid out as
// `memr1 launch` lays it out: job.yaml (the resolved config with the job token, mode 0600),
// logs/, metrics/, checkpoints/, coordinator/ (state), memstore-<i>/, addresses/, plus slurm/
// (the batch script and Slurm's own output).
//
// Resume (a requeued job, or `memr1 slurm submit --resume`): the coordinator's state is rolled
// back to the learners' checkpoints/LATEST (coordinator::RollBackToCheckpoint, as `memr1 launch
// --resume` does) and the learners restore it. A LATEST newer than the checkpoint the
// coordinator recorded (the job stopped between the learners writing it and reporting it) is
// first pointed back at the recorded one: resumed from the newer one, the coordinator would wait
// for a checkpoint the learners never write again. The memstore data is keyed to the shard list it
// was written with (host:port of every shard, memstore/shard_router.h): when every shard of the
// previous run can bind its old address again (its host is a node of this allocation) the
// shards keep their data; otherwise the old data directories are moved aside
// (memstore-<i>.replaced-<unix seconds>) and the banks are built again.
//
// Thread safety: pure functions, apart from the files PrepareSlurmJob and RecordShardAddresses
// write; run one prepare per job directory at a time (the batch script does).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memr1/v1/config.pb.h"

namespace memr1::job {

struct SlurmNode {
  std::string name;     // Slurm's NodeName (srun --nodelist)
  std::string address;  // its NodeAddr (a host name or an IP address)
};

struct SlurmLayoutOptions {
  // Every node of the allocation, in Slurm's order (ignored for a heterogeneous job).
  std::vector<SlurmNode> nodes;
  // A heterogeneous job: the nodes of component 0 (learners) and of component 1 (coordinator,
  // memstore shards, actors). Both empty otherwise.
  std::vector<SlurmNode> learner_group;
  std::vector<SlurmNode> service_group;
  // GPUs per node; 0 for a CPU job.
  int gpus_per_node = 0;
  // Nodes for the learners (from the front of `nodes`); 0: the default above.
  int learner_nodes = 0;

  // InvalidArgument naming what is wrong (no nodes, a node without a name or address, a
  // negative count, a half-given heterogeneous job).
  absl::Status Validate() const;
};

struct SlurmLayout {
  std::vector<SlurmNode> learner_nodes;
  int learner_ranks = 1;
  int learner_tasks_per_node = 1;
  // 1 when each learner rank / actor takes one GPU (srun --gpus-per-task=1), else 0.
  int learner_gpus_per_task = 0;
  int actor_gpus_per_task = 0;
  SlurmNode coordinator;
  // Per shard: its node and the address it binds ("<NodeAddr>:0", or its previous address).
  std::vector<SlurmNode> shard_nodes;
  std::vector<std::string> shard_listen;
  // True when the shards bind the previous run's addresses (their data stays valid).
  bool shards_keep_addresses = false;
  std::vector<SlurmNode> actor_nodes;
};

// Lays the roles of `config` out on the allocation (see the file comment). `previous_shards`:
// the shard list of the run being resumed (empty for a new job).
absl::StatusOr<SlurmLayout> PlanSlurmLayout(const v1::JobConfig& config,
                                            const SlurmLayoutOptions& options,
                                            const std::vector<std::string>& previous_shards = {});

// "host:port", bracketing an IPv6 host.
std::string JoinHostPort(const std::string& host, int port);

struct SlurmPrepareOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  // Continue the job in output_dir (see the file comment); without it an output_dir that
  // already holds a job's coordinator state is refused.
  bool resume = false;
  SlurmLayoutOptions layout;
};

struct SlurmPrepared {
  std::string output_dir;  // absolute
  std::string job_yaml;    // <output_dir>/job.yaml
  // The job was already DONE (a resume with nothing left to run).
  bool done = false;
  SlurmLayout layout;
  // Human-readable lines about what was decided (resume point, moved shard data).
  std::vector<std::string> notes;
};

// Resolves the config (file, overrides; a random job token when it names none, the previous
// run's on resume), creates the job directory, rolls the coordinator back on resume, plans the
// layout and writes job.yaml (mode 0600; memstore.shards is filled in later by
// RecordShardAddresses, once the shards serve). Errors: the config's; FailedPrecondition for an
// output_dir of another run without `resume`; those of PlanSlurmLayout and of the rollback;
// PermissionDenied / Internal for directories and files that cannot be written.
absl::StatusOr<SlurmPrepared> PrepareSlurmJob(const SlurmPrepareOptions& options);

// The prepared job as bash assignments for the batch script to `eval` (every value quoted):
// MEMR1_OUTPUT_DIR, MEMR1_JOB_YAML, MEMR1_DONE, MEMR1_COORDINATOR_NODE,
// MEMR1_COORDINATOR_LISTEN, MEMR1_SHARDS and the arrays MEMR1_SHARD_NODE / MEMR1_SHARD_LISTEN,
// MEMR1_LEARNER_RANKS, MEMR1_LEARNER_NODES (comma-separated), MEMR1_LEARNER_NODE_COUNT,
// MEMR1_LEARNER_TASKS_PER_NODE, MEMR1_LEARNER_GPUS_PER_TASK, MEMR1_ACTORS, the array
// MEMR1_ACTOR_NODE, MEMR1_ACTOR_GPUS_PER_TASK, MEMR1_NODE_ADDRS ("name=addr,..."), and
// MEMR1_NOTES (an array of the notes).
std::string FormatSlurmAssignments(const SlurmPrepared& prepared);

// Sets memstore.shards of the job config `job_yaml` to `shards` (in shard order) and rewrites it
// atomically, mode 0600. Errors: the config's; InvalidArgument for an empty or malformed list.
absl::Status RecordShardAddresses(const std::string& job_yaml,
                                  const std::vector<std::string>& shards);

// Parses "name=addr,name=addr" (the script's node list). InvalidArgument naming the bad entry.
absl::StatusOr<std::vector<SlurmNode>> ParseSlurmNodes(const std::string& text);

// `text` quoted for bash (single quotes).
std::string ShellQuote(const std::string& text);

}  // namespace memr1::job
