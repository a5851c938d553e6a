#pragma once

// Offline rollouts: the episodes of one training stage (actor.train_agent) over the train split,
// in this process, without the distributed job. `memr1 rollout` writes their trajectories as
// JSON lines for `memr1 learner offline`, so a stage can be iterated by hand (rollout, train,
// point the agent's policy at the new checkpoint, rollout again) and the actor side of a job can
// be debugged on its own.
//
//   1. The train split's conversations get banks built by the Memory Manager's policy at its
//      current version, frozen (BankBuilder, greedy unless actor.eval_temperature says
//      otherwise; tag "train"; cached in memstore like evaluation banks).
//   2. Candidate episodes: MEMORY_MANAGER — every (conversation, turn) of ManagerEpisodeTurns;
//      ANSWER_AGENT — every question. They are shuffled with the seed (a SplitMix64
//      Fisher-Yates, the same order on every platform) and taken in order, reshuffled for each
//      further pass when more episodes are asked for than there are candidates.
//   3. Episode e has id "<seed>-<e>" (its group id) and sampling seed seed * 1000003 + e.
//
// Memstore: as for evaluation (actor/job_memstore.h), the local store's data in
// <output_dir>/rollout/memstore.
//
// Thread safety: a blocking call.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::actor {

struct RolloutOptions {
  int64_t episodes = 1;
  // Names the producer in every trajectory's metadata.
  std::string actor_id = "rollout";
  // Also record every Memory Manager call of step 1 (bank building: every turn of every train
  // conversation, with the bank as the frozen manager left it) as a trajectory, before the
  // episodes' (MEMORY_MANAGER only; needs a policy with token ids and banks not cached yet).
  // With a teacher these are demonstrations of every decision, including the turns where there
  // is nothing to do, which episodes (turns that are some question's last evidence) never show.
  bool bank_demos = false;
  // Progress lines (null: none).
  std::ostream* progress = nullptr;
};

struct RolloutSummary {
  std::string agent;     // "memory_manager" or "answer_agent"
  int64_t episodes = 0;  // episodes run
  int64_t bank_demos = 0;  // trajectories of bank-building calls (RolloutOptions::bank_demos)
  std::vector<v1::Trajectory> trajectories;
  double mean_reward = 0;
  // Groups whose members all got the same reward (no learning signal for GRPO).
  int64_t flat_groups = 0;
  std::map<std::string, int64_t> format_failures;  // the trained agent's, by kind
};

// InvalidArgument for a train split without conversations or episodes; errors of episodes
// name the episode.
absl::StatusOr<RolloutSummary> RunRollouts(const v1::JobConfig& job, const RolloutOptions& options);

}  // namespace memr1::actor
