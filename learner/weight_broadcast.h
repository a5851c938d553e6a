#pragma once

// Weight sync by collective broadcast (learner.weight_sync = NCCL_BROADCAST): learner rank 0
// and the actors form one group outside the learners' MPI world; rank 0 sends every published
// version to all members at once instead of each actor fetching it over gRPC.
//
// Rendezvous: rank 0 makes the group's unique id and serves it through the Weights service
// (JoinBroadcastGroup, BroadcastGroupRegistry below); each actor asks for its place and joins.
// The group forms when all 1 + num_actors members joined (NCCL's ncclCommInitRank is
// collective), within a deadline.
//
// Wire format of one version over Communicator::Broadcast from rank 0, two collectives:
//   1. a header of kHeaderBytes uint8: magic "MEMR1WB1", version (int64 little endian),
//      total_bytes (int64), then the 64 hex digits of the bytes' SHA-256 and the format name
//      (NUL padded). Version -1 closes the group (receivers stop cleanly).
//   2. total_bytes uint8 of the version's bytes (a safetensors file), on the group's device.
// A receiver copies the bytes to host memory and checks size and SHA-256 before handing them
// out: a mismatch is DataLoss naming both hashes, never a silent mix.
//
// Failure: a collective error or a member that never joins makes the group *failed*: the
// broadcaster stops sending and receivers report Unavailable, and the job falls back to the
// gRPC fetch (weight_publisher.h), which stays served either way.
//
// Thread safety: WeightBroadcaster and WeightBroadcastReceiver are thread safe; each runs one
// thread that is the only user of its communicator. BroadcastGroupRegistry is thread safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "learner/weight_publisher.h"
#include "memr1/v1/learner_service.pb.h"

namespace memr1::learner {

class Communicator;

inline constexpr int kWeightBroadcastHeaderBytes = 128;

// Joins the broadcast group `unique_id` as `rank` of `world` (blocks until every member joined
// or `deadline` passes). The production joiner is NcclGroupJoiner(); tests inject in-process
// groups.
using GroupJoiner = std::function<absl::StatusOr<std::unique_ptr<Communicator>>(
    const std::string& unique_id, int rank, int world, absl::Time deadline)>;

// NCCL groups on CUDA device `device`. When built without NCCL the joiner returns
// Unimplemented and NewGroupId fails the same way.
GroupJoiner NcclGroupJoiner(int device);
absl::StatusOr<std::string> NewNcclGroupId();

// The CUDA device index of a role's model.device ("cuda" -> 0, "cuda:1" -> 1);
// FailedPrecondition naming learner.weight_sync for any other device (NCCL moves CUDA tensors).
absl::StatusOr<int> BroadcastDeviceIndex(const std::string& model_device);

// Sends one version to every member (rank 0 only).
absl::Status SendWeights(Communicator& comm, const WeightPublisher::Version& version);
// Tells every member the group is closing (rank 0 only).
absl::Status SendGroupClose(Communicator& comm);
// Receives the next version from rank 0 (ranks > 0). OutOfRange once the group was closed;
// DataLoss when size or hash do not match the header; InvalidArgument for a malformed header.
absl::StatusOr<WeightPublisher::Version> ReceiveWeights(Communicator& comm);

// Rank 0's assignment of group ranks to actors (served by WeightsService::JoinBroadcastGroup).
class BroadcastGroupRegistry {
 public:
  BroadcastGroupRegistry(std::string unique_id, int num_actors);

  // The actor's place: the same rank every time it asks; ResourceExhausted when all
  // num_actors ranks belong to other actors.
  absl::StatusOr<v1::BroadcastGroup> Join(const std::string& actor_id);
  int world_size() const { return num_actors_ + 1; }
  const std::string& unique_id() const { return unique_id_; }

 private:
  const std::string unique_id_;
  const int num_actors_;
  absl::Mutex mu_;
  std::vector<std::string> actors_ ABSL_GUARDED_BY(mu_);  // actors_[i] has rank i + 1
};

// Rank 0's side: joins the group in the background and sends each offered version. Versions
// offered while a send is running are coalesced (only the newest is sent next).
class WeightBroadcaster {
 public:
  // Starts joining at once; `join_timeout` bounds the wait for all members.
  WeightBroadcaster(GroupJoiner joiner, std::string unique_id, int world,
                    absl::Duration join_timeout);
  // Closes the group when it formed, waiting at most a few seconds for the thread; a thread
  // still blocked in a collective (a member stopped responding) is left to end with the process.
  ~WeightBroadcaster();

  void Offer(std::shared_ptr<const WeightPublisher::Version> version);
  // OK while the group forms or works; the error that failed it otherwise.
  absl::Status status() const;
  // Newest version fully sent, -1 before the first.
  int64_t sent_version() const;
  // Blocks until `version` was sent or the group failed (bounded by `timeout`).
  absl::Status WaitSent(int64_t version, absl::Duration timeout) const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

// An actor's side: joins the group in the background and keeps the newest received version.
class WeightBroadcastReceiver {
 public:
  WeightBroadcastReceiver(GroupJoiner joiner, v1::BroadcastGroup group,
                          absl::Duration join_timeout);
  // The thread ends when rank 0 closes the group or the group fails; one still blocked in a
  // collective is left to end with the process.
  ~WeightBroadcastReceiver();

  // The newest received version once it is at least `min_version`; Unavailable when the group
  // failed or closed, DeadlineExceeded after `timeout`.
  absl::StatusOr<std::shared_ptr<const WeightPublisher::Version>> WaitFor(
      int64_t min_version, absl::Duration timeout) const;
  absl::Status status() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace memr1::learner
