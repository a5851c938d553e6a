#pragma once

// Reading and checking stored trajectories (the offline learner's input).
//
// Thread safety: pure functions.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::learner {

// Whether a consumer needs the behaviour (sampling) log-probs of the response tokens.
enum class BehaviourLogprobs {
  kRequired,  // RL (PPO, GRPO, RLOO): one per response token
  kOptional,  // supervised (SFT): a demonstration may carry none; present ones are still checked
};

// Checks the invariants every consumer relies on: a non-empty response; behaviour_logprobs one
// per response token (or none, when `behaviour` is kOptional), finite and <= 0; loss_mask
// empty or one 0/1 per response token with at least one 1; token_rewards and
// reference_logprobs empty or one per response token; a finite reward; ids >= 0 and below
// `vocab_size` when `vocab_size` > 0. Errors name the field.
absl::Status ValidateTrajectory(const v1::Trajectory& trajectory, int64_t vocab_size = 0,
                                BehaviourLogprobs behaviour = BehaviourLogprobs::kRequired);

// Parses one JSON line (protobuf's JSON mapping; unknown fields are errors) and validates it.
absl::StatusOr<v1::Trajectory> ParseTrajectoryJson(
    const std::string& line, int64_t vocab_size = 0,
    BehaviourLogprobs behaviour = BehaviourLogprobs::kRequired);

// Reads a JSON-lines file of trajectories. Blank lines are skipped. An unreadable file is
// NotFound; a bad line is InvalidArgument naming "path:line" and the problem, and nothing is
// returned (all or nothing).
absl::StatusOr<std::vector<v1::Trajectory>> ReadTrajectoriesJsonl(
    const std::string& path, int64_t vocab_size = 0,
    BehaviourLogprobs behaviour = BehaviourLogprobs::kRequired);

// Writes trajectories as JSON lines (the format ReadTrajectoriesJsonl reads), atomically:
// a temporary file renamed over `path`.
absl::Status WriteTrajectoriesJsonl(const std::string& path,
                                    const std::vector<v1::Trajectory>& trajectories);

}  // namespace memr1::learner
