#pragma once

// The two RL episodes of Memory-R1, each producing one GRPO group of trajectories.
//
// Memory Manager episode (training the MM; the Answer Agent is frozen), at turn t of a
// conversation whose bank (built by BankBuilder, seq >= t) is `base_bank`:
//   1. the turn's facts are extracted once (identity, or the extraction policy with the frozen
//      sampling options); a turn without facts still makes an episode (an empty fact list, for
//      which deciding nothing is right), so every episode yields a whole group;
//   2. related memories are retrieved from the base bank as of seq t (the state before turn t;
//      nothing for t == 0);
//   3. ONE manager request is sampled group_size times (sampling seed = spec.seed + g) in one
//      Complete call;
//   4. member g gets its own bank "<base_bank>/<episode id, sanitised>/g<g>": a fork of the base
//      bank at seq t (same routing key, so copy-on-write on the base bank's shard), or, for
//      t == 0, a new empty bank (at_seq 0 would mean "latest"). A fork left over from an
//      earlier attempt of the same episode is dropped and made again;
//   5. member g's parsed operations are applied to its fork in one Apply (a format failure
//      applies nothing and is counted in memr1_actor_format_failures_total{agent=
//      "memory_manager"});
//   6. the frozen Answer Agent (answer policy, frozen sampling) answers QuestionsForTurn(t) from
//      every fork: all members' questions in ONE Complete call. An answer that does not parse is
//      scored through FallbackAnswer (and counted with agent="answer_agent");
//   7. member g's reward is the mean RewardScorer score over those questions, with `parsed` =
//      its MM output parsed (so the format reward goes to well-formed MM outputs only);
//   8. the forks are dropped — also when the episode fails midway (best effort; a failed Drop is
//      logged, and the fork's TTL, fork_ttl_seconds, removes it eventually).
// The base bank is never written.
//
// Answer Agent episode (training the AA; the bank comes from a fixed MM): retrieval for the
// question from the bank (latest state), ONE answer request sampled group_size times (seed +
// g), each answer parsed (a failed parse is scored through FallbackAnswer and gets no format
// reward) and scored against the gold answer.
//
// Every member yields one trajectory (actor/trajectory_builder.h): token ids and behaviour
// log-probs as sampled, group_id = the episode id, policy_version = the trained policy's
// version when it sampled. The trained policy must report token ids (has_tokens());
// FailedPrecondition otherwise, before any bank is touched.
//
// Errors: policy and memstore failures fail the episode (nothing is returned; forks are
// dropped). Bad specs are InvalidArgument; a turn with no qualifying question is
// FailedPrecondition naming the conversation and turn.
//
// Thread safety: an EpisodeRunner is not thread safe (the policies are not); use one per thread
// with policies of its own.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actor/dataset.h"
#include "actor/output_format.h"
#include "actor/prompts.h"
#include "actor/rewards.h"
#include "actor/text_policy.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/memstore.pb.h"
#include "memr1/v1/trajectory.pb.h"
#include "memstore/shard_router.h"

namespace memr1::actor {

struct EpisodeOptions {
  // Members per group (actor.sampling.group_size).
  int group_size = 8;
  // The trained agent's sampling (actor.sampling: temperature, top_p, top_k; max_tokens =
  // max_response_tokens). The seed is replaced per member by spec.seed + g.
  SamplingOptions train_sampling;
  // The frozen agent's and fact extraction's sampling (temperature = actor.eval_temperature,
  // 0 = greedy; top_p 1, no top-k; max_tokens = max_response_tokens). Seed = spec.seed.
  SamplingOptions frozen_sampling{0.0, 1.0, 0, 256, 0};
  // MM episodes: at most this many questions score each member (actor.questions_per_episode).
  int questions_per_episode = 4;
  // actor.memory_manager.retrieve_k, actor.answer_agent.per_speaker_k,
  // actor.memory_manager.max_facts_per_turn.
  int retrieve_k = 10;
  int per_speaker_k = 30;
  int max_facts_per_turn = 8;
  // actor.memory_manager.fact_extraction == LLM (false: the identity extractor).
  bool llm_extraction = true;
  // TTL of the forks (memstore.bank_ttl_seconds), so forks a crashed actor could not drop
  // expire; 0 never expires.
  int64_t fork_ttl_seconds = 3600;
  // Written into every trajectory's metadata; not in the config (the launcher names actors).
  std::string actor_id;

  // From the job config; actor_id stays empty. InvalidArgument when the result is invalid.
  static absl::StatusOr<EpisodeOptions> FromConfig(const v1::JobConfig& config);
  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

struct ManagerEpisodeSpec {
  const Conversation* conversation = nullptr;  // not owned; must outlive the call
  // A bank of the conversation built turn by turn (BankBuilder) with seq >= turn; no '/'.
  std::string base_bank;
  int turn = 0;  // global turn index (FlattenTurns)
  // Unique per episode: the group id of its trajectories and part of the fork names.
  std::string episode_id;
  uint64_t seed = 0;
  std::string work_unit_id;
};

struct AnswerEpisodeSpec {
  const Conversation* conversation = nullptr;  // not owned; must outlive the call
  std::string bank;                            // the conversation's bank, read at its latest seq
  const QaItem* question = nullptr;            // not owned; one of conversation->qa
  std::string episode_id;
  uint64_t seed = 0;
  std::string work_unit_id;
};

// What one group member did and earned.
struct MemberOutcome {
  int member = 0;
  std::string completion;  // the trained agent's output text
  // MM: the fork it wrote to (already dropped when the result is returned).
  std::string fork;
  // MM: the operations applied to its fork (real memory ids; empty when it failed to parse or
  // decided nothing).
  std::vector<v1::Operation> ops;
  // Why its output was rejected, when it was.
  std::optional<FormatFailure> failure;
  // MM: the frozen AA's answer to each scoring question (EpisodeResult::question_ids order);
  // AA: its own one answer (parsed, or the fallback).
  std::vector<std::string> answers;
  // AA: the ids of the shown memories its answer selected.
  std::vector<std::string> selected_ids;
  double reward = 0;
};

struct EpisodeResult {
  std::string episode_id;
  // The scoring questions (MM) or the one question (AA).
  std::vector<std::string> question_ids;
  std::vector<MemberOutcome> members;     // member g at index g
  std::vector<v1::Trajectory> trajectories;  // trajectory g is member g's
};

// Turns that can make a Memory Manager episode: every turn that is the last evidence turn of
// at least one question (so QuestionsForTurn is non-empty for each), ascending. Questions
// whose evidence names no turn of the conversation are ignored.
std::vector<int> ManagerEpisodeTurns(const Conversation& conversation);

// The questions that score an MM episode at `turn`: those whose evidence includes the turn
// and lies entirely at or before it (the turn is their last evidence turn), so the decision at
// this turn is the last one the answer depends on. Deterministic: the first `max` such
// questions in dataset order (all of them when max <= 0).
std::vector<const QaItem*> QuestionsForTurn(const Conversation& conversation, int turn, int max);

// The bank of group member `member` of a Memory Manager episode.
std::string MemberBankName(const std::string& base_bank, const std::string& episode_id,
                           int member);

class EpisodeRunner {
 public:
  // Not owned; each must outlive the runner. `extraction_policy` is needed when
  // options.llm_extraction (InvalidArgument otherwise) and may be the manager policy;
  // `manager_policy`, `answer_policy`, `templates` and `scorer` are required.
  static absl::StatusOr<std::unique_ptr<EpisodeRunner>> Create(
      const memstore::ShardRouter* router, TextPolicy* extraction_policy,
      TextPolicy* manager_policy, TextPolicy* answer_policy, const PromptTemplates* templates,
      const RewardScorer* scorer, EpisodeOptions options);
  ~EpisodeRunner();

  // Trains the MM (see the file comment). Blocks.
  absl::StatusOr<EpisodeResult> RunManagerEpisode(const ManagerEpisodeSpec& spec);
  // Trains the AA (see the file comment). Blocks.
  absl::StatusOr<EpisodeResult> RunAnswerEpisode(const AnswerEpisodeSpec& spec);

  const EpisodeOptions& options() const;

 private:
  struct Impl;  // defined in episodes.cc
  explicit EpisodeRunner(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace memr1::actor
