#pragma once

// Outcome rewards of the Memory-R1 agents. The Answer Agent's reward is a score of its answer
// against the gold answer; the Memory Manager's is the same score of the frozen Answer Agent's
// answers from the bank its operations produced. Kinds (actor.reward):
//   EXACT_MATCH  1 when the answers are equal after eval::NormalizeLocomoAnswer (lower-case,
//                punctuation, commas and a/an/the/and removed, whitespace squeezed) — the
//                paper's normalised exact match; "Lisbon." matches "lisbon"
//   F1           eval::TokenF1 (Mem0 / Memory-R1 style token F1)
//   JUDGE        the LLM judge's score (eval.judge); needs a JudgeClient
// plus actor.format_reward when the completion parsed.
//
// Thread safety: Score may be called concurrently (the judge client is thread safe).

#include <string_view>

#include "absl/status/statusor.h"
#include "eval/judge_client.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

double NormalizedExactMatch(std::string_view prediction, std::string_view gold);

class RewardScorer {
 public:
  // `judge` (not owned) is required for JUDGE (InvalidArgument otherwise) and must outlive the
  // scorer.
  static absl::StatusOr<RewardScorer> Create(v1::ActorConfig::Reward kind, double format_reward,
                                             const eval::JudgeClient* judge = nullptr);

  // The outcome score of `prediction` (in [0, 1]) plus format_reward when `parsed`. Errors only
  // from the judge.
  absl::StatusOr<double> Score(std::string_view question, std::string_view prediction,
                               std::string_view gold, bool parsed) const;

  v1::ActorConfig::Reward kind() const { return kind_; }

 private:
  RewardScorer(v1::ActorConfig::Reward kind, double format_reward, const eval::JudgeClient* judge)
      : kind_(kind), format_reward_(format_reward), judge_(judge) {}

  v1::ActorConfig::Reward kind_;
  double format_reward_;
  const eval::JudgeClient* judge_;
};

}  // namespace memr1::actor
