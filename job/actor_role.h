#pragma once

// The actor role (`memr1 actor`): runs the episodes the coordinator leases and streams their
// trajectories to the learners.
//
// Start-up: the job's dataset (train split), prompt templates, reward scorer and policies
// (PolicySet: the frozen agents and fact extraction on the base model; the trained agent,
// actor.train_agent, on an instance of its own that receives the published weights), the
// memstore router over memstore.shards, then Register (ROLE_KIND_ACTOR, --id) and a
// Heartbeater reporting the loaded version, its hash and the idle fraction.
//
// Loop: LeaseWork (one unit at a time) -> for the unit:
//   1. the policy version: SYNC needs exactly unit.policy_version, ASYNC at least it. Weights are
//      fetched from learner rank 0 (WeightClient: resumable, SHA-256 verified) and applied
//      between episodes; the very first unit fetches too, so the version-0 hash is verified.
//      With learner.weight_sync = NCCL_BROADCAST the actor joins rank 0's broadcast group on
//      its CUDA device (learner/weight_broadcast.h) and takes the version from it, verified the
//      same way; a group that fails or does not deliver the version in time falls back to gRPC;
//   2. the conversation's bank: on the first unit, every train conversation's bank by the
//      frozen manager (BankBuilder, tag "train"), shared by the job's actors: each builds its
//      share (actor ids ending in "-<k>"), waits while the peers' shares advance and builds
//      what a stalled peer left (actor.peer_bank_wait_seconds); then reused;
//   3. the episode: MM or AA as unit.agent says, episode id "<unit id>#<attempt>", seed
//      unit.seed. An MM turn without facts is sent as an empty unit;
//   4. TrajectorySender::SendUnit to the learner rank unit.learner_rank (bounded retries of a
//      broken stream), then CompleteWork with the acknowledged count and reward sum.
// A unit the actor cannot finish (memstore or learner unreachable after retries) is given back
// by registering again, which re-leases it at once; too many failures in a row end the actor.
// `done` from LeaseWork or `stop` from a heartbeat ends it cleanly.
//
// Thread safety: RunActorRole is a blocking call; one per process.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace memr1 {
class ShutdownSignal;
}  // namespace memr1

namespace memr1::job {

struct ActorRoleOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string coordinator;  // host:port
  std::string id;           // "actor-0"
  // Units that may fail in a row before the actor gives up.
  int max_consecutive_failures = 5;
  // Bound on waiting for the learners to register (their addresses).
  absl::Duration learner_timeout = absl::Minutes(10);
  // NCCL_BROADCAST: bound on the group forming, and on waiting for a version from it.
  absl::Duration broadcast_join_timeout = absl::Minutes(5);
  absl::Duration broadcast_wait = absl::Minutes(2);
};

// OK when the job is done or the coordinator says stop; Cancelled on a shutdown request.
absl::Status RunActorRole(const ActorRoleOptions& options, ShutdownSignal* shutdown);

}  // namespace memr1::job
