#include "actor/rewards.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/metrics.h"

namespace memr1::actor {
namespace {

// Debian's Abseil has its own string_view (not std::string_view).
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

double NormalizedExactMatch(std::string_view prediction, std::string_view gold) {
  const bool equal = eval::NormalizeLocomoAnswer(AbslView(prediction)) ==
                     eval::NormalizeLocomoAnswer(AbslView(gold));
  return equal ? 1.0 : 0.0;
}

absl::StatusOr<RewardScorer> RewardScorer::Create(v1::ActorConfig::Reward kind,
                                                  double format_reward,
                                                  const eval::JudgeClient* judge) {
  switch (kind) {
    case v1::ActorConfig::EXACT_MATCH:
    case v1::ActorConfig::F1:
      break;
    case v1::ActorConfig::JUDGE:
      if (judge == nullptr) {
        return absl::InvalidArgumentError(
            "actor.reward is JUDGE but no judge client was given (configure eval.judge)");
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("actor.reward: unsupported reward kind ", static_cast<int>(kind)));
  }
  if (!std::isfinite(format_reward) || format_reward < 0 || format_reward > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("actor.format_reward must be in [0, 1], got ", format_reward));
  }
  return RewardScorer(kind, format_reward, judge);
}

absl::StatusOr<double> RewardScorer::Score(std::string_view question, std::string_view prediction,
                                           std::string_view gold, bool parsed) const {
  double score = 0;
  switch (kind_) {
    case v1::ActorConfig::F1:
      score = eval::TokenF1(AbslView(prediction), AbslView(gold));
      break;
    case v1::ActorConfig::JUDGE: {
      absl::StatusOr<eval::JudgeVerdict> verdict =
          judge_->Judge(AbslView(question), AbslView(gold), AbslView(prediction));
      if (!verdict.ok()) {
        return Annotate(verdict.status(), absl::StrCat("judge reward for question \"",
                                                       AbslView(question), "\""));
      }
      score = verdict->score;
      break;
    }
    default:
      score = NormalizedExactMatch(prediction, gold);
      break;
  }
  return parsed ? score + format_reward_ : score;
}

}  // namespace memr1::actor
