#pragma once

// Resuming a job from the learners' latest checkpoint: the coordinator's state is rolled back
// to the checkpoint's step before the coordinator serves (JobState::ResumeFromCheckpoint), so
// versions and accepted units after it are trained again, from the same episodes and seeds.
// Used by `memr1 launch --resume` and `memr1 coordinator --resume` (cluster launches: a
// requeued Slurm job, a restarted Kubernetes pod set).
//
// Thread safety: call before the coordinator serves from the same state directory (RocksDB
// allows one opener).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/server.h"

namespace memr1::coordinator {

// The checkpoint the learners restore on --resume: <checkpoints>/LATEST names "step-<N>".
struct LatestCheckpoint {
  int64_t step = -1;  // -1 when there is none yet
  std::string dir;    // <checkpoints>/step-<N>; empty when there is none
};
// DataLoss for a LATEST that names anything else.
absl::StatusOr<LatestCheckpoint> ReadLatestCheckpoint(const std::string& checkpoints_dir);

struct ResumeOutcome {
  // The job was DONE already: nothing to run.
  bool already_done = false;
  // One line for the log: what was rolled back to what.
  std::string message;
};

// Rolls the job in options.state_dir back to ReadLatestCheckpoint(checkpoints_dir).
absl::StatusOr<ResumeOutcome> RollBackToCheckpoint(ServerOptions options,
                                                   const std::string& checkpoints_dir);

}  // namespace memr1::coordinator
