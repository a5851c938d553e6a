#include "learner/trajectory_io.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/jsonl.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace memr1::learner {

namespace {

absl::Status CheckPerToken(int size, int response_len, const char* field) {
  if (size != 0 && size != response_len) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has ", size, " entries, expected 0 or ",
                                                   response_len, " (one per response token)"));
  }
  return absl::OkStatus();
}

absl::Status CheckIds(const google::protobuf::RepeatedField<int32_t>& ids, int64_t vocab_size,
                      const char* field) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || (vocab_size > 0 && ids[i] >= vocab_size)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] = ", ids[i], " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTrajectory(const v1::Trajectory& t, int64_t vocab_size,
                                BehaviourLogprobs behaviour) {
  const int n = t.response_ids_size();
  if (n == 0) return absl::InvalidArgumentError("response_ids is empty");
  MEMR1_RETURN_IF_ERROR(CheckIds(t.prompt_ids(), vocab_size, "prompt_ids"));
  MEMR1_RETURN_IF_ERROR(CheckIds(t.response_ids(), vocab_size, "response_ids"));
  if (t.behaviour_logprobs_size() == 0 && behaviour == BehaviourLogprobs::kRequired) {
    return absl::InvalidArgumentError(
        "behaviour_logprobs is empty: PPO, GRPO and RLOO need the sampling log-prob of every "
        "response token (learner.algorithm sft trains on demonstrations without them)");
  }
  if (t.behaviour_logprobs_size() != 0 && t.behaviour_logprobs_size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("behaviour_logprobs has ", t.behaviour_logprobs_size(), " entries, expected ",
                     n, " (one per response token)"));
  }
  for (int i = 0; i < t.behaviour_logprobs_size(); ++i) {
    const float lp = t.behaviour_logprobs(i);
    if (!std::isfinite(lp) || lp > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("behaviour_logprobs[", i, "] = ", lp, " is not a finite log-probability"));
    }
  }
  MEMR1_RETURN_IF_ERROR(CheckPerToken(t.loss_mask_size(), n, "loss_mask"));
  if (t.loss_mask_size() > 0) {
    bool any = false;
    for (int i = 0; i < n; ++i) {
      if (t.loss_mask(i) > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("loss_mask[", i, "] = ", t.loss_mask(i), " is not 0 or 1"));
      }
      any = any || t.loss_mask(i) == 1;
    }
    if (!any) return absl::InvalidArgumentError("loss_mask has no policy token (all zero)");
  }
  MEMR1_RETURN_IF_ERROR(CheckPerToken(t.token_rewards_size(), n, "token_rewards"));
  MEMR1_RETURN_IF_ERROR(CheckPerToken(t.reference_logprobs_size(), n, "reference_logprobs"));
  if (!std::isfinite(t.reward())) {
    return absl::InvalidArgumentError(absl::StrCat("reward = ", t.reward(), " is not finite"));
  }
  for (int i = 0; i < t.token_rewards_size(); ++i) {
    if (!std::isfinite(t.token_rewards(i))) {
      return absl::InvalidArgumentError(absl::StrCat("token_rewards[", i, "] is not finite"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Trajectory> ParseTrajectoryJson(const std::string& line, int64_t vocab_size,
                                                   BehaviourLogprobs behaviour) {
  v1::Trajectory trajectory;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(line, &trajectory, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a Trajectory: ", parsed.ToString()));
  }
  MEMR1_RETURN_IF_ERROR(ValidateTrajectory(trajectory, vocab_size, behaviour));
  return trajectory;
}

absl::StatusOr<std::vector<v1::Trajectory>> ReadTrajectoriesJsonl(const std::string& path,
                                                                  int64_t vocab_size,
                                                                  BehaviourLogprobs behaviour) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open trajectories file ", path));
  std::vector<v1::Trajectory> out;
  MEMR1_RETURN_IF_ERROR(
      ForEachJsonLine(in, path, [&](const std::string& line, const std::string&) -> absl::Status {
        MEMR1_ASSIGN_OR_RETURN(v1::Trajectory trajectory,
                               ParseTrajectoryJson(line, vocab_size, behaviour));
        out.push_back(std::move(trajectory));
        return absl::OkStatus();
      }));
  return out;
}

absl::Status WriteTrajectoriesJsonl(const std::string& path,
                                    const std::vector<v1::Trajectory>& trajectories) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", temp));
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    for (const auto& trajectory : trajectories) {
      std::string json;
      const auto printed = google::protobuf::util::MessageToJsonString(trajectory, &json, options);
      if (!printed.ok()) return absl::InternalError(printed.ToString());
      out << json << '\n';
    }
    out.flush();
    if (!out) return absl::DataLossError(absl::StrCat("error writing ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace memr1::learner
