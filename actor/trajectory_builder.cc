#include "actor/trajectory_builder.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "memstore/client.h"

namespace memr1::actor {

absl::StatusOr<v1::Trajectory> MakeTrajectory(const Completion& completion,
                                              const TrajectoryInfo& info) {
  if (completion.prompt_ids.empty() || completion.response_ids.empty()) {
    if (completion.prompt_ids.empty() && completion.response_ids.empty()) {
      return absl::FailedPreconditionError(
          "the completion has no token ids: trajectories need a policy that reports them (the "
          "local engine), not an OpenAI-compatible server");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the completion has ", completion.prompt_ids.size(), " prompt ids and ",
                     completion.response_ids.size(), " response ids; both must be non-empty"));
  }
  if (completion.logprobs.size() != completion.response_ids.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the completion has ", completion.logprobs.size(), " log-probs for ",
        completion.response_ids.size(), " response tokens; trajectories need one per token"));
  }
  if (!std::isfinite(info.reward)) {
    return absl::InvalidArgumentError(absl::StrCat("reward is not finite: ", info.reward));
  }
  v1::Trajectory trajectory;
  trajectory.set_id(memstore::NewRequestId());
  trajectory.mutable_prompt_ids()->Add(completion.prompt_ids.begin(), completion.prompt_ids.end());
  trajectory.mutable_response_ids()->Add(completion.response_ids.begin(),
                                         completion.response_ids.end());
  trajectory.mutable_behaviour_logprobs()->Add(completion.logprobs.begin(),
                                               completion.logprobs.end());
  trajectory.set_policy_version(info.policy_version);
  trajectory.set_reward(info.reward);
  trajectory.set_group_id(info.group_id);
  trajectory.set_agent(info.agent);
  *trajectory.mutable_episode() = info.episode;
  return trajectory;
}

}  // namespace memr1::actor
