#pragma once

// Turning a sampled completion into the learner's Trajectory message, token in, token out.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "actor/text_policy.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::actor {

struct TrajectoryInfo {
  v1::AgentKind agent = v1::AGENT_KIND_UNSPECIFIED;
  int64_t policy_version = 0;
  double reward = 0;
  std::string group_id;  // empty for PPO
  v1::EpisodeMetadata episode;
};

// A trajectory of `completion`: prompt_ids, response_ids, behaviour_logprobs as sampled, every
// response token a policy token, a fresh random id. FailedPrecondition when the completion has
// no token ids or no log-prob per response token (the policy cannot make trajectories, e.g. an
// OpenAI-compatible server); InvalidArgument for an empty response or a non-finite reward.
absl::StatusOr<v1::Trajectory> MakeTrajectory(const Completion& completion,
                                              const TrajectoryInfo& info);

}  // namespace memr1::actor
