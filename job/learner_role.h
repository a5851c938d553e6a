#pragma once

// The learner role (`memr1 learner run`): one process per data-parallel rank, started by
// `mpirun`/`srun` (or alone for one rank).
//
// Each rank serves TrajectoryIngest on learner.listen (rank 0 also serves Weights there),
// registers with the coordinator (ROLE_KIND_LEARNER, "learner-<rank>", its rank and address)
// and keeps its lease alive with a Heartbeater. Rank 0 publishes the current weights as version
// trainer.steps() (0 for a new job). Then, for every step s up to learner.total_steps:
//   1. poll StepUnits(s, rank) until the step is complete (bounded sleeps; stop on `stop`);
//   2. IngestBuffer::Take the accepted (unit, attempt) pairs — every other trajectory the rank
//      was sent for those units is dropped, so nothing is counted twice;
//   3. all-gather the ranks' parts (serialized, over the communicator) into the global batch,
//      ordered by unit index, identical on every rank; Trainer::Step on it (the trainer takes
//      its share and all-reduces the gradients);
//   4. if StepUnits asked for a checkpoint: a collective CheckpointManager::Save;
//   5. rank 0 publishes version s + 1 (the serialized weights and their SHA-256) and calls
//      PublishVersion with the step metrics (and the checkpoint directory).
// Every rank appends {"step", "params_sha256"} to <output_dir>/metrics/learner-rank-<r>.jsonl
// (identical lines on every rank are the data-parallel invariant); rank 0 appends the step
// metrics to <output_dir>/metrics/learner.jsonl.
//
// Trajectories are refused at ingest when their policy version does not fit the step (SYNC:
// version == step; ASYNC: version >= step - coordinator.max_staleness), when the unit belongs to
// another rank or to a step already trained, and for the reasons of learner/ingest_service.h.
//
// Thread safety: RunLearnerRole is a blocking call; one per process.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace memr1 {
class ShutdownSignal;
}  // namespace memr1

namespace memr1::job {

struct LearnerRoleOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string coordinator;  // host:port
  bool resume = false;
  // Bound on waiting for one step's units (StepUnits polling, then Take).
  absl::Duration step_timeout = absl::Hours(2);
  // StepUnits polling interval.
  absl::Duration poll_interval = absl::Milliseconds(100);
  // learner.weight_sync = NCCL_BROADCAST: bound on all actors joining rank 0's group.
  absl::Duration broadcast_join_timeout = absl::Minutes(5);
};

// OK when the job reached learner.total_steps (or the coordinator reported DONE). Aborted when
// the coordinator stopped the job (FAILED), Cancelled on a shutdown request; errors of the
// trainer, the communicator and the coordinator name their source.
absl::Status RunLearnerRole(const LearnerRoleOptions& options, ShutdownSignal* shutdown);

}  // namespace memr1::job
