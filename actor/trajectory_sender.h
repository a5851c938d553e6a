#pragma once

// TrajectorySender: an actor's connection to one learner rank's TrajectoryIngest service
// (learner_service.proto). One bidi stream per sender (one sender per learner address), a
// bounded window of unacknowledged batches, and an ack reader thread.
//
// SendUnit splits a work unit's trajectories into batches of at most max_batch_bytes (the last
// one marked last_of_unit) and returns once the learner acknowledged all of them. Flow control:
// when the learner's buffer is full it stops reading, acks stop, the window fills and SendUnit
// blocks, so the actor slows down with its learner (bounded by send_timeout).
//
// Failures:
//  - a refused batch: FailedPrecondition carrying the learner's reason ("policy_version: ...");
//    the learner kept nothing of the unit attempt. A unit attempt the learner already holds whole
//    (a resend after a lost ack) is not an error: the receipt says already_whole.
//  - a broken stream (learner gone, network): Unavailable. The learner drops the partial
//    attempt; the caller may retry the unit, and the next SendUnit opens a new stream.
//  - the stream refused outright (wrong job token): that status (Unauthenticated).
//  - send_timeout passed: DeadlineExceeded; the stream is cancelled (the learner drops the
//    partial attempt) and the next SendUnit opens a new one.
//
// Thread safety: thread safe. Several threads may call SendUnit at once: their batches share
// the stream and the window (units are keyed, so batches of different units may interleave),
// which keeps the stream busy while each waits for its acks. Close() is idempotent, cancels the
// stream, makes blocked calls return Cancelled and joins the reader; the destructor calls it.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/grpc_util.h"
#include "memr1/v1/learner_service.grpc.pb.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::actor {

struct TrajectorySenderOptions {
  // The learner rank's ingest address (host:port).
  std::string address;
  std::string job_token;
  // Written into every batch (the learner logs it).
  std::string actor_id;
  ChannelOptions channel;
  // Unacknowledged batches on the stream at most.
  int max_in_flight = 4;
  // Default split size of SendUnit (one trajectory larger than this travels alone).
  int64_t max_batch_bytes = 4 << 20;
  // Bound on one SendUnit, waiting for the window and the acks included.
  absl::Duration send_timeout = absl::Minutes(10);

  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

struct UnitReceipt {
  int batches = 0;
  int64_t trajectories = 0;
  int64_t bytes = 0;  // serialized trajectory bytes
  // The learner already held this attempt whole (a resend); nothing new was buffered.
  bool already_whole = false;
};

class TrajectorySender {
 public:
  // Opens a channel to options.address (the stream starts with the first SendUnit).
  static absl::StatusOr<std::unique_ptr<TrajectorySender>> Create(TrajectorySenderOptions options);
  // With a given stub (tests: an in-process channel or a scripted stub).
  static absl::StatusOr<std::unique_ptr<TrajectorySender>> Create(
      TrajectorySenderOptions options, std::unique_ptr<v1::TrajectoryIngest::StubInterface> stub);
  ~TrajectorySender();
  TrajectorySender(const TrajectorySender&) = delete;
  TrajectorySender& operator=(const TrajectorySender&) = delete;

  // Sends the trajectories of unit attempt (`unit_id`, `attempt`) of `step` (0 or more; an
  // empty unit is one empty last batch) and waits for their acks. `max_batch_bytes` <= 0 uses
  // the option. Errors as in the file comment; InvalidArgument for an empty unit id.
  absl::StatusOr<UnitReceipt> SendUnit(const std::string& unit_id, int32_t attempt, int64_t step,
                                       absl::Span<const v1::Trajectory> trajectories,
                                       int64_t max_batch_bytes = 0);

  void Close();

  // Batches written and not yet acknowledged on the current stream.
  int in_flight() const;
  const std::string& address() const { return options_.address; }

 private:
  // One bidi call. `pending`/`acks`/`broken` are guarded by the sender's mu_; `rw` writes by
  // write_mu_; Finish runs once, under write_mu_, after the reader has stopped.
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriterInterface<v1::TrajectoryBatch, v1::IngestAck>> rw;
    std::thread reader;
    std::deque<int64_t> pending;          // sequences written, not acked, in order
    std::map<int64_t, v1::IngestAck> acks;  // acked, not yet collected by their SendUnit
    bool broken = false;
    absl::Status error;  // a protocol error seen by the reader
    bool finished = false;
    absl::Status final_status;
    int64_t next_sequence = 1;  // guarded by write_mu_; numbering restarts on every stream
  };

  TrajectorySender(TrajectorySenderOptions options,
                   std::unique_ptr<v1::TrajectoryIngest::StubInterface> stub);
  void ReadAcks(Stream* stream);
  // The current stream, opening a new one when there is none or it broke.
  absl::StatusOr<std::shared_ptr<Stream>> CurrentStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Cancels (unless already broken), joins the reader and finishes the call; idempotent.
  void FinishStream(Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The error SendUnit reports for a broken stream.
  absl::Status BrokenError(Stream* stream) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Writes one batch once the window has room. Returns its sequence.
  absl::StatusOr<int64_t> WriteBatch(const std::shared_ptr<Stream>& stream,
                                     v1::TrajectoryBatch* batch, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Waits for the acks of `sequences`, removing and returning them in order.
  absl::StatusOr<std::vector<v1::IngestAck>> AwaitAcks(const std::shared_ptr<Stream>& stream,
                                                       const std::vector<int64_t>& sequences,
                                                       absl::Time deadline);

  const TrajectorySenderOptions options_;
  std::unique_ptr<v1::TrajectoryIngest::StubInterface> stub_;

  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::shared_ptr<Stream> stream_ ABSL_GUARDED_BY(write_mu_);

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  Stream* current_ ABSL_GUARDED_BY(mu_) = nullptr;  // for in_flight() and Close()
};

}  // namespace memr1::actor
