#pragma once

// The one-machine launcher behind `memr1 launch`: starts a whole job as child processes on
// 127.0.0.1 and watches it to the end.
//
// Layout of <output_dir>: job.yaml (the resolved config every child reads, with the job token
// and the memstore shard addresses; mode 0600), logs/<role>.log (each child's output, also
// printed prefixed "[role] "), metrics/ (the learners' step metrics JSONL), checkpoints/,
// coordinator/ (the coordinator's RocksDB state), memstore-<i>/ (shard i's data), addresses/
// (the address files the children write once they serve).
//
// Order: memstore shards (address files awaited), then the coordinator (awaited), then the
// learners (one process, or `mpirun -np learner.num_ranks`), then actor.num_actors actors. The
// launcher then polls the coordinator's Status and prints progress when the step changes. It
// ends when the coordinator exits: 0 with phase DONE is success (the remaining children get a
// bounded time to exit on their own, then are stopped). An actor that dies (kill -9) is
// restarted under the same id, up to 3 times: the coordinator re-leases its units. A memstore
// shard or the coordinator killed by a signal is restarted, up to 3 times, on its data or state
// directory and on the address it bound first (`--listen 127.0.0.1:<port>`), so the shard list
// and the roles' channels stay valid: actors retry the episodes that failed against a shard,
// and every role registers again with a restarted coordinator. Any other role that exits
// non-zero first (a learner rank: the job stops and `--resume` continues it), or a
// shutdown request (Ctrl-C), makes it tell the coordinator to Shutdown(reason), stop every
// child (TERM, then KILL after a grace period) and return an error naming the role and the
// tail of its log.
//
// --resume: the coordinator's state directory and the memstore data are reused (the shards
// serve on the addresses of the run being resumed, from its job.yaml: their data is keyed to
// that shard list), the
// coordinator's state is rolled back to the learners' latest checkpoint (checkpoints/LATEST;
// JobState::ResumeFromCheckpoint: versions after it forgotten, units of later steps trained
// again as new attempts) and the learners restore that checkpoint, so a job stopped by a lost
// learner rank ends with the parameters of an uninterrupted run; without it an output_dir that already holds a job's
// coordinator state is refused (FailedPrecondition), so two jobs never mix.
//
// Thread safety: RunLaunch is a blocking call; run one per process (it owns the children).

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memr1/v1/coordinator.pb.h"

namespace memr1 {
class ShutdownSignal;
}  // namespace memr1

namespace memr1::job {

struct LaunchOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  bool resume = false;
  // The memr1 binary the children run (empty: this process's own executable).
  std::string memr1_binary;
  // Prepended to the learner's command when learner.num_ranks > 1.
  std::vector<std::string> mpirun = {"mpirun", "--allow-run-as-root", "--oversubscribe"};
  // Bound on waiting for each address file.
  absl::Duration address_timeout = absl::Seconds(180);
  // How often children and the coordinator are polled.
  absl::Duration poll_interval = absl::Milliseconds(500);
  // How long the children get to exit on their own after the job is DONE.
  absl::Duration exit_grace = absl::Seconds(30);
  // Bound on the whole job (zero: none).
  absl::Duration job_timeout = absl::ZeroDuration();
  // Children's prefixed output and the progress lines (null: discarded; log files are written
  // either way).
  std::ostream* out = nullptr;
};

struct LaunchResult {
  std::string output_dir;
  // The coordinator's last Status before it exited.
  v1::StatusResponse status;
};

// Runs the job to its end. `shutdown` (not owned; may be null) is polled: when requested, the
// job is stopped and Cancelled is returned. Errors: the config's; FailedPrecondition for an
// output_dir of another run without --resume; DeadlineExceeded naming the missing address file
// or the job timeout; Aborted naming the role that failed, with its exit code and log tail.
absl::StatusOr<LaunchResult> RunLaunch(const LaunchOptions& options, ShutdownSignal* shutdown);

}  // namespace memr1::job
