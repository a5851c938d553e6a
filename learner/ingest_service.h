#pragma once

// Trajectory ingest on a learner rank: the bounded IngestBuffer that holds the trajectories
// actors stream in, and TrajectoryIngestService, the gRPC handler of
// learner_service.proto's TrajectoryIngest.Stream in front of it.
//
// Units and attempts. Actors send the trajectories of a work unit (one episode, one GRPO group)
// as one or more batches keyed by (unit id, attempt); the unit attempt is *whole* once its
// batch with last_of_unit has been admitted. The coordinator decides which attempt of a unit
// counts; the learner then Take()s exactly those attempts, which also drops every other attempt
// of the same units and refuses any later batch for them (a re-leased unit's late trajectories
// are never counted twice).
//
// Refusals. A batch is admitted whole or not at all. It is refused (IngestAck accepted=false,
// `reason` = "<label>: <detail>", logged, counted in memr1_learner_ingest_rejected_total{reason=
// label}) when: the sequence number is not the stream's next ("sequence"); unit id or attempt
// is malformed ("malformed"); a trajectory fails learner::ValidateTrajectory
// ("invalid_trajectory"); the caller's version rule refuses a trajectory's policy version
// ("policy_version"); the caller's unit rule refuses the unit, e.g. a unit of another rank or of
// a closed step ("unit"); the unit was already taken ("unit_taken"); the attempt is already
// whole ("duplicate") or being streamed on another connection ("concurrent_stream"); the batch
// alone exceeds the buffer's limits ("oversized"); or an earlier batch of the same attempt on
// this stream was refused ("earlier_batch_refused"). A refusal also drops what the attempt had
// buffered: an attempt is whole only if every one of its batches was admitted. Later batches of
// a refused attempt are refused until its last_of_unit batch, after which the attempt may be
// sent again.
//
// Backpressure. Admission waits (in bounded slices, checking Close() and the caller's cancel
// predicate) while the buffer lacks room for the batch, so the stream handler stops reading,
// acknowledgements stop, and the actor's bounded window of unacknowledged batches fills: a slow
// learner slows its actors and nothing is dropped silently. The limits must leave room for the
// step's whole global batch, or Take() can wait for units that cannot get in (it then fails
// after its timeout naming them).
//
// Thread safety: IngestBuffer and TrajectoryIngestService are thread safe. The rules are called
// without the buffer's lock held, from stream handler threads, possibly concurrently.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "learner/trajectory_io.h"
#include "memr1/v1/learner_service.grpc.pb.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::learner {

// One attempt of one work unit.
struct UnitAttempt {
  std::string unit_id;
  int32_t attempt = 0;
  bool operator<(const UnitAttempt& other) const {
    return std::tie(unit_id, attempt) < std::tie(other.unit_id, other.attempt);
  }
  bool operator==(const UnitAttempt& other) const {
    return unit_id == other.unit_id && attempt == other.attempt;
  }
};

// Accepts (OK) or refuses (any error; its message becomes the refusal's detail) a trajectory
// sampled with `policy_version` for a unit of `step`. E.g. synchronous mode: version == step;
// asynchronous: step - max_staleness <= version <= step.
using PolicyVersionRule = std::function<absl::Status(int64_t step, int64_t policy_version)>;
// Accepts or refuses a unit of `step` on this rank (another rank's unit, a closed step).
using UnitRule = std::function<absl::Status(const std::string& unit_id, int64_t step)>;

struct IngestOptions {
  // Buffer limits: trajectories held and their serialized bytes (whole, partial and not yet
  // taken attempts together).
  int64_t max_trajectories = 4096;
  int64_t max_bytes = int64_t{1} << 30;
  // Token ids must be below this (0: unchecked).
  int64_t vocab_size = 0;
  // kOptional for supervised jobs (learner.algorithm SFT): demonstrations need no behaviour
  // log-probs.
  BehaviourLogprobs behaviour_logprobs = BehaviourLogprobs::kRequired;
  // Both optional: no rule accepts everything.
  PolicyVersionRule version_rule;
  UnitRule unit_rule;
  // How long one wait for room lasts before the waiter re-checks cancellation.
  absl::Duration wait_slice = absl::Milliseconds(50);
  // The job token streams must carry. The buffer does not use it: the role that builds both
  // passes it on to TrajectoryIngestService (job/learner_role.cc keeps it here).
  std::string job_token;

  // InvalidArgument naming the field for limits < 1 or a non-positive wait slice.
  absl::Status Validate() const;
};

class IngestBuffer {
 public:
  // `options` must be valid (Validate()).
  explicit IngestBuffer(IngestOptions options);
  IngestBuffer(const IngestBuffer&) = delete;
  IngestBuffer& operator=(const IngestBuffer&) = delete;

  // The outcome of one batch.
  struct Admission {
    bool accepted = false;
    std::string label;   // refusals: the metric label ("policy_version", ...)
    std::string reason;  // refusals: "<label>: <detail>"
  };

  // Validates `batch` as sent on stream `stream_id` (sequence numbers are checked by the caller),
  // waits for room, then buffers it. Blocks while the buffer is full, re-checking `cancelled`
  // (may be empty) every wait slice. Returns the admission, or Cancelled when `cancelled`
  // returned true or Close() ran while waiting (nothing is buffered then).
  absl::StatusOr<Admission> Admit(uint64_t stream_id, v1::TrajectoryBatch batch,
                                  const std::function<bool()>& cancelled);

  // Refuses `batch` for a reason found outside the buffer (the stream handler's sequence
  // check), with the same effect on its attempt as any refusal.
  Admission RefuseBatch(uint64_t stream_id, const v1::TrajectoryBatch& batch, std::string label,
                        std::string detail);

  // A stream ended: drops the attempts it left partial (never whole) and its refused attempts.
  // Returns how many were dropped.
  int EndStream(uint64_t stream_id);

  // Waits (up to `timeout`) until every attempt in `accepted` is whole, then removes and returns
  // their trajectories (in the order of `accepted`, then arrival), drops every other attempt of
  // those units, and refuses later batches for them. Errors (nothing removed): InvalidArgument
  // for a unit listed twice; DeadlineExceeded naming the attempts still missing; Cancelled after
  // Close().
  absl::StatusOr<std::vector<v1::Trajectory>> Take(const std::vector<UnitAttempt>& accepted,
                                                   absl::Duration timeout);

  // Drops every attempt of units of `step` and forgets which of its units were taken (call once
  // the step is closed and the unit rule refuses its units). Returns the attempts dropped.
  int DropStep(int64_t step);

  // Wakes every waiter; later Admit and Take calls fail with Cancelled.
  void Close();

  // Introspection (tests, metrics).
  int64_t trajectories() const;
  int64_t bytes() const;
  bool IsWhole(const UnitAttempt& key) const;
  // Batches now waiting for room.
  int waiting() const;

 private:
  struct Entry {
    uint64_t stream_id = 0;
    int64_t step = 0;
    std::vector<v1::Trajectory> trajectories;
    int64_t bytes = 0;
    bool whole = false;
    bool refused = false;  // an earlier batch was refused; later ones are too, up to the last
  };

  // Checks that do not need the buffer: ids, ValidateTrajectory and the caller's rules.
  Admission CheckBatch(const v1::TrajectoryBatch& batch) const;
  // Refuses `batch` and marks or drops its attempt as the contract says.
  Admission Refuse(uint64_t stream_id, const v1::TrajectoryBatch& batch, std::string label,
                   std::string detail) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refusal decided by the buffer's state, or an empty label when the batch may be added.
  Admission StateCheck(uint64_t stream_id, const v1::TrajectoryBatch& batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseEntry(std::map<UnitAttempt, Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGauges() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const IngestOptions options_;
  mutable absl::Mutex mu_;
  std::map<UnitAttempt, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Units already taken, with their step (forgotten by DropStep).
  std::map<std::string, int64_t> taken_ ABSL_GUARDED_BY(mu_);
  int64_t trajectories_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// TrajectoryIngest.Stream: checks the job token (UNAUTHENTICATED), then reads batches, admits
// each into the buffer (waiting while it is full: flow control) and acknowledges them in
// order. When the stream ends or breaks, the attempts it left partial are dropped.
class TrajectoryIngestService final : public v1::TrajectoryIngest::Service {
 public:
  // `buffer` is not owned and must outlive the service. `job_token`: the token streams must
  // carry (empty accepts all).
  TrajectoryIngestService(IngestBuffer* buffer, std::string job_token);

  grpc::Status Stream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::IngestAck, v1::TrajectoryBatch>* stream) override;

  // Makes running handlers return (their partial attempts are dropped). Does not close the
  // buffer; the gRPC server is shut down by its owner.
  void Close();

 private:
  IngestBuffer* const buffer_;
  const std::string job_token_;
  absl::Mutex mu_;
  uint64_t next_stream_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Running handlers, cancelled by Close().
  std::set<grpc::ServerContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace memr1::learner
