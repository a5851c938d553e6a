#pragma once

// JobState: the coordinator's state machine, without gRPC (the service wraps it). Every method
// takes the current time, so tests drive it with a fake clock. The rules of the wire contract
// (proto/memr1/v1/coordinator.proto) live here:
//
// Phases. STARTING -> RUNNING once every learner rank 0..num_ranks-1 and at least one actor
// registered. RUNNING -> CHECKPOINTING when every unit of a checkpoint step s is accepted
// (StepUnits says `checkpoint`); no unit of a later step is leased until version s + 1 arrives
// with a checkpoint_dir (a version published without one is recorded and the phase waits for it
// to be published again with the directory) -> RUNNING, or DONE when that version is
// total_steps. FAILED by Shutdown(reason), or when a learner's lease expires (a lost rank stops
// the job; `memr1 launch --resume` restarts it from the latest checkpoint), or when a learner
// rank does not re-register within one lease TTL after a coordinator restart.
//
// Checkpoint steps: (s + 1) % checkpoint_every == 0, and always the last step (checkpoint_every
// 0 writes a checkpoint only at the end, config.proto).
//
// Roles. Register gives a lease "<role_id>:<nonce>" valid for lease_ttl and renewed by every
// Heartbeat. Registering a known role_id again (a restarted process) replaces the old lease: the
// old one's heartbeats answer `stop`, and an actor's leased units are re-leased at once. Leases
// are not kept across coordinator restarts: every role registers again (their old lease ids are
// NotFound, which tells the client to register).
//
// Work units. Step s has units_per_step units "<s>-<i>"; unit e = s * units_per_step + i of the
// job is the e-th episode of the EpisodeStream, seeded EpisodeSeed(job_seed, e), for learner rank
// i % num_ranks. A unit's lease lasts while its actor's lease does (every heartbeat of the holder
// renews it to now + lease_ttl): when the actor's heartbeats stop, or it registers again, its
// units go back to the queue and their next lease has attempt + 1. Units are leased lowest step
// first. SYNC: units of step s only once version s is published (version 0 = the initial
// weights, from learner rank 0). ASYNC: steps up to newest_version + max_staleness, and only to
// an actor whose loaded version v has s <= v + max_staleness.
//
// CompleteWork accepts the first completion of the unit's current attempt, from the actor that
// holds it, while the lease is valid, sampled with an acceptable version (SYNC: exactly s; ASYNC:
// >= s - max_staleness). Repeating an accepted completion is accepted again (idempotent). Every
// other completion is refused with the reason and, when it is a late or superseded attempt,
// counted (late_completions_refused). A completion refused for its version releases the unit at
// once. Nothing is accepted twice: a unit is done with exactly one (attempt, trajectories).
//
// PublishVersion (learner rank 0 only): version v requires every unit of step v - 1 accepted;
// it must be newest + 1, or equal an existing version with the same hash (idempotent).
//
// Durability: every change a peer is told about is written to the StateStore before the method
// returns; on a write error the method fails and the in-memory state is unchanged. Reopening a
// store restores phase, versions, accepted units, attempts and counters; units leased at the
// crash are released (re-leased with attempt + 1).
//
// Thread safety: not thread safe; the service serializes calls with one mutex. No method blocks
// on anything but the StateStore write.

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/episode_stream.h"
#include "coordinator/state_store.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/coordinator.pb.h"

namespace memr1::coordinator {

struct JobOptions {
  int64_t total_steps = 1;
  int units_per_step = 1;
  int num_ranks = 1;
  bool async = false;
  int max_staleness = 1;
  absl::Duration lease_ttl = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(5);
  int checkpoint_every = 0;
  uint64_t job_seed = 0;
  v1::AgentKind agent = v1::AGENT_KIND_MEMORY_MANAGER;

  // units_per_step = learner.global_batch_size / group_size (group_size = 1 for PPO);
  // InvalidArgument when the batch is not whole groups or has fewer groups than ranks.
  static absl::StatusOr<JobOptions> FromConfig(const v1::JobConfig& config);
  absl::Status Validate() const;
  // What defines the work queue (a state_dir of another job is refused).
  std::string Fingerprint() const;
};

class JobState {
 public:
  // Restores the state of `store` (or starts a new job in an empty one). FailedPrecondition
  // when the store holds a job with another fingerprint; DataLoss for unreadable records.
  static absl::StatusOr<std::unique_ptr<JobState>> Open(JobOptions options,
                                                        std::unique_ptr<EpisodeStream> episodes,
                                                        std::unique_ptr<StateStore> store,
                                                        absl::Time now);

  // InvalidArgument for a bad role / rank / empty id; FailedPrecondition when another role
  // holds the learner rank.
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request,
                                                absl::Time now);
  // NotFound for an unknown lease (register again).
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request,
                                                  absl::Time now);
  // NotFound for an unknown lease; PermissionDenied for a role that is not an actor.
  absl::StatusOr<v1::LeaseWorkResponse> LeaseWork(const v1::LeaseWorkRequest& request,
                                                  absl::Time now);
  // Refusals are responses (accepted = false), not errors; NotFound for an unknown lease,
  // InvalidArgument for a negative trajectory count.
  absl::StatusOr<v1::CompleteWorkResponse> CompleteWork(const v1::CompleteWorkRequest& request,
                                                        absl::Time now);
  // InvalidArgument for a step or rank out of range; NotFound for an unknown lease.
  absl::StatusOr<v1::StepUnitsResponse> StepUnits(const v1::StepUnitsRequest& request,
                                                  absl::Time now);
  // PermissionDenied unless learner rank 0; FailedPrecondition for a version out of order, an
  // incomplete step or a different hash for a known version.
  absl::Status PublishVersion(const v1::PublishVersionRequest& request, absl::Time now);
  v1::StatusResponse Status(absl::Time now);
  // See coordinator.proto Shutdown. A finished job (DONE/FAILED) stays as it is.
  absl::Status Shutdown(const std::string& reason, absl::Time now);
  // `memr1 launch --resume`: rolls the job back to the checkpoint the restarted learners will
  // restore, `checkpoint_version` (the trained steps it holds, read from the learners'
  // checkpoints/LATEST; -1 when there is none), so that they continue exactly where it was
  // written. It may be newer than the newest checkpoint the coordinator recorded (a learner
  // killed between writing it and publishing it). Phase back to STARTING (error cleared);
  // versions after checkpoint_version are forgotten (all of them for -1: the learners publish
  // the initial weights again); every unit of a step >= checkpoint_version goes back to
  // pending, its acceptance forgotten (training that the checkpoint does not hold consumed it),
  // its attempt number kept so the next lease is a new attempt and a late completion of an old
  // one is refused. Counters (trajectories accepted, re-leased units, refusals, restarts) are
  // kept: they count what happened. Live leases are dropped: every role registers again.
  // A DONE job stays DONE (OK, nothing changes). FailedPrecondition when some step before
  // checkpoint_version is not complete or it is past the next version (not this job's
  // checkpoint). One batch; on a write error nothing changes. `checkpoint_dir` (the learners'
  // step directory) becomes the job's latest checkpoint whenever it differs from the recorded
  // one: a newer checkpoint the coordinator never heard of counts as done (its steps are not
  // awaited again), an older one replaces a newer that is gone from disk.
  absl::Status ResumeFromCheckpoint(int64_t checkpoint_version, const std::string& checkpoint_dir,
                                    absl::Time now);
  // Makes the earliest step whose units no learner rank has been handed (StepUnits answered
  // complete) a checkpoint step, and returns it: the learners write a checkpoint after training
  // it. Held in memory only (a restarted coordinator forgets a request not yet served).
  // FailedPrecondition when the job is DONE or FAILED.
  absl::StatusOr<int64_t> RequestCheckpoint(const std::string& reason, absl::Time now);
  // Expires leases (role and unit) and checks the phase rules; every method calls it first.
  absl::Status Tick(absl::Time now);

  v1::JobPhase phase() const { return meta_.phase; }
  const std::string& error() const { return meta_.error; }
  // Newest published version, -1 before version 0.
  int64_t newest_version() const;
  const JobOptions& options() const { return options_; }
  // Accounting helpers (tests, status): counts over the units of the job.
  int64_t CountUnits(UnitState state) const;
  int64_t late_completions_refused() const { return meta_.late_completions_refused; }
  int64_t units_released() const { return meta_.units_released; }
  int64_t hash_mismatches() const { return meta_.hash_mismatches; }

 private:
  struct Role {
    v1::RoleKind kind = v1::ROLE_KIND_UNSPECIFIED;
    std::string role_id;
    std::string lease_id;
    std::string address;
    int rank = -1;
    absl::Time expires;
    absl::Time last_heartbeat;
    int64_t policy_version = -1;
    std::map<std::string, double> gauges;
    bool expired = false;
  };
  struct Unit {
    UnitRecord record;
    EpisodeRef episode;
    uint64_t seed = 0;
    absl::Time lease_deadline = absl::InfinitePast();
  };

  JobState(JobOptions options, std::unique_ptr<EpisodeStream> episodes,
           std::unique_ptr<StateStore> store);
  absl::Status Restore(LoadedState loaded, absl::Time now);

  // Makes the units of steps < `steps` exist (drawing episodes in order).
  void Materialize(int64_t steps);
  Unit* FindUnit(const std::string& unit_id);
  bool StepComplete(int64_t step) const;
  bool IsCheckpointStep(int64_t step) const;
  // The role of a current lease; NotFound otherwise (with `stop_replaced` set when the role
  // exists under a newer lease).
  absl::StatusOr<Role*> FindLease(const std::string& lease_id, bool* replaced);
  // Releases every unit `role_id` holds (persisted through `batch`).
  int ReleaseUnitsOf(const std::string& role_id, StateStore::Batch* batch,
                     std::vector<Unit*>* changed);
  void MaybeStartRunning(JobMeta* meta) const;
  std::vector<std::string> LearnerAddresses() const;
  void Fail(JobMeta* meta, const std::string& reason) const;
  int64_t LeasableStepLimit(int64_t actor_version) const;
  v1::WorkUnit ToWire(const Unit& unit) const;

  JobOptions options_;
  std::unique_ptr<EpisodeStream> episodes_;
  std::unique_ptr<StateStore> store_;
  JobMeta meta_;
  std::vector<VersionRecord> versions_;  // versions_[v].version == v
  std::vector<std::vector<Unit>> steps_;  // materialized steps
  std::map<std::string, Role> roles_;     // by role_id
  absl::Time restarted_at_ = absl::InfinitePast();
  bool awaiting_reregistration_ = false;
  // Checkpoint steps asked for by RequestCheckpoint, and the newest step a learner rank was
  // handed (its checkpoint flag is then fixed: every rank must see the same).
  std::set<int64_t> requested_checkpoints_;
  int64_t handed_through_ = -1;
  // (time, trajectories) of recent acceptances, for trajectories/s.
  std::deque<std::pair<absl::Time, int>> recent_;
};

}  // namespace memr1::coordinator
