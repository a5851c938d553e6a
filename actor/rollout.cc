#include "actor/rollout.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actor/bank_builder.h"
#include "actor/dataset.h"
#include "actor/episode_schedule.h"
#include "actor/episodes.h"
#include "actor/job_memstore.h"
#include "actor/policy_factory.h"
#include "actor/prompts.h"
#include "actor/rewards.h"
#include "actor/trajectory_builder.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "eval/judge_client.h"

namespace memr1::actor {
namespace {

namespace fs = std::filesystem;

// Forwards to `inner` and keeps every completion it returns (RolloutOptions::bank_demos).
class RecordingPolicy : public TextPolicy {
 public:
  explicit RecordingPolicy(TextPolicy* inner) : inner_(inner) {}

  absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) override {
    absl::StatusOr<std::vector<Completion>> completions = inner_->Complete(requests);
    if (completions.ok()) {
      recorded_.insert(recorded_.end(), completions->begin(), completions->end());
    }
    return completions;
  }
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override {
    return inner_->CountPromptTokens(messages);
  }
  int64_t max_prompt_tokens() const override { return inner_->max_prompt_tokens(); }
  bool has_tokens() const override { return inner_->has_tokens(); }
  int64_t version() const override { return inner_->version(); }
  std::string Describe() const override { return inner_->Describe(); }

  std::vector<Completion>& recorded() { return recorded_; }

 private:
  TextPolicy* inner_;
  std::vector<Completion> recorded_;
};

// The bank builder's manager calls as demonstration trajectories (reward 0: a bank-building
// decision has no outcome of its own; supervised training does not read it).
absl::Status AddBankDemos(std::vector<Completion>& recorded, RolloutSummary* summary) {
  for (size_t i = 0; i < recorded.size(); ++i) {
    TrajectoryInfo info;
    info.agent = v1::AGENT_KIND_MEMORY_MANAGER;
    info.group_id = absl::StrCat("bank-", i);
    info.episode.set_actor_id("rollout");
    info.episode.set_turn_index(-1);
    (*info.episode.mutable_annotations())["source"] = "bank building";
    absl::StatusOr<v1::Trajectory> trajectory = MakeTrajectory(recorded[i], info);
    if (!trajectory.ok()) {
      return Annotate(trajectory.status(), absl::StrCat("bank-building call ", i));
    }
    summary->trajectories.push_back(*std::move(trajectory));
  }
  summary->bank_demos = static_cast<int64_t>(recorded.size());
  recorded.clear();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RolloutSummary> RunRollouts(const v1::JobConfig& job,
                                           const RolloutOptions& options) {
  if (options.episodes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("episodes must be >= 1, got ", options.episodes));
  }
  const bool train_manager = job.actor().train_agent() != v1::ActorConfig::ANSWER_AGENT;
  RolloutSummary summary;
  summary.agent = train_manager ? "memory_manager" : "answer_agent";

  MEMR1_ASSIGN_OR_RETURN(const Dataset dataset, LoadDataset(job.data()));
  MEMR1_ASSIGN_OR_RETURN(const DatasetSplits splits,
                         SplitDataset(dataset, SplitSpecFrom(job.data())));
  const std::vector<const Conversation*>& conversations = splits.train;
  if (conversations.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the train split of ", dataset.source,
                                                   " is empty (data.train_conversations is ",
                                                   job.data().train_conversations(), ")"));
  }

  MEMR1_ASSIGN_OR_RETURN(const PromptTemplates templates, PromptTemplates::FromConfig(job.actor()));
  MEMR1_ASSIGN_OR_RETURN(PolicySet policies, PolicySet::FromJob(job, /*base_model_only=*/false));
  MEMR1_ASSIGN_OR_RETURN(EpisodeOptions episode_options, EpisodeOptions::FromConfig(job));
  episode_options.actor_id = options.actor_id;
  std::unique_ptr<eval::JudgeClient> judge;
  if (job.actor().reward() == v1::ActorConfig::JUDGE) {
    MEMR1_ASSIGN_OR_RETURN(eval::JudgeOptions judge_options,
                           eval::JudgeOptions::FromConfig(job.eval().judge()));
    MEMR1_ASSIGN_OR_RETURN(judge, eval::JudgeClient::Create(std::move(judge_options)));
  }
  MEMR1_ASSIGN_OR_RETURN(
      const RewardScorer scorer,
      RewardScorer::Create(job.actor().reward(), job.actor().format_reward(), judge.get()));
  MEMR1_ASSIGN_OR_RETURN(
      JobMemstore memstore,
      ConnectJobMemstore(job, (fs::path(job.output_dir()) / "rollout" / "memstore").string()));

  // 1. Banks from the frozen manager.
  BankBuildOptions build;
  build.llm_extraction = episode_options.llm_extraction;
  build.manager_mode = ManagerMode::kPolicy;
  build.retrieve_k = episode_options.retrieve_k;
  build.max_facts_per_turn = episode_options.max_facts_per_turn;
  build.sampling = episode_options.frozen_sampling;
  build.ttl_seconds = job.memstore().bank_ttl_seconds();
  build.tag = "train";
  if (options.bank_demos && !train_manager) {
    return absl::InvalidArgumentError(
        "bank-building demonstrations are the Memory Manager's: set actor.train_agent to "
        "memory_manager");
  }
  RecordingPolicy recording(policies.manager());
  TextPolicy* bank_manager = options.bank_demos ? &recording : policies.manager();
  if (options.bank_demos && !bank_manager->has_tokens()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bank-building demonstrations need token ids, and the manager policy (",
                     bank_manager->Describe(), ") has none"));
  }
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<BankBuilder> builder,
                         BankBuilder::Create(memstore.router.get(), policies.extraction(),
                                             bank_manager, &templates, build));
  std::unique_ptr<ProgressMeter> bank_meter;
  MEMR1_ASSIGN_OR_RETURN(const std::vector<BuiltBank> banks,
                         builder->Build(conversations, [&](int64_t done, int64_t total) {
                           if (bank_meter == nullptr) {
                             bank_meter = std::make_unique<ProgressMeter>("banks (turns)", total,
                                                                          options.progress);
                           }
                           bank_meter->Update(done);
                         }));

  if (options.bank_demos) {
    if (recording.recorded().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "bank-building demonstrations were asked for, but the banks were cached in ",
          (fs::path(job.output_dir()) / "rollout" / "memstore").string(),
          " and no manager call was made; use a fresh output_dir"));
    }
    MEMR1_RETURN_IF_ERROR(AddBankDemos(recording.recorded(), &summary));
  }

  // 2. Candidates, in a seeded order.
  const std::vector<EpisodeCandidate> candidates = EpisodeCandidates(conversations, train_manager);
  if (candidates.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the train split of ", dataset.source, " offers no ", summary.agent,
                     " episodes (no questions with evidence in its conversations)"));
  }

  // 3. Episodes.
  MEMR1_ASSIGN_OR_RETURN(
      std::unique_ptr<EpisodeRunner> runner,
      EpisodeRunner::Create(memstore.router.get(), policies.extraction(), policies.manager(),
                            policies.answer(), &templates, &scorer, episode_options));
  ProgressMeter meter("episodes", options.episodes, options.progress);
  EpisodeSchedule schedule(candidates, job.seed());
  double reward_sum = 0;
  for (int64_t e = 0; e < options.episodes; ++e) {
    const EpisodeCandidate candidate = schedule.Next();
    const Conversation& conversation = *conversations[candidate.conversation];
    const std::string episode_id = absl::StrCat(job.seed(), "-", e);
    const uint64_t seed = EpisodeSeed(job.seed(), e);
    absl::StatusOr<EpisodeResult> result;
    if (train_manager) {
      ManagerEpisodeSpec spec;
      spec.conversation = &conversation;
      spec.base_bank = banks[candidate.conversation].bank;
      spec.turn = candidate.turn;
      spec.episode_id = episode_id;
      spec.seed = seed;
      spec.work_unit_id = episode_id;
      result = runner->RunManagerEpisode(spec);
    } else {
      AnswerEpisodeSpec spec;
      spec.conversation = &conversation;
      spec.bank = banks[candidate.conversation].bank;
      spec.question = candidate.qa;
      spec.episode_id = episode_id;
      spec.seed = seed;
      spec.work_unit_id = episode_id;
      result = runner->RunAnswerEpisode(spec);
    }
    if (!result.ok()) {
      return Annotate(
          result.status(),
          absl::StrCat("episode ", episode_id, " (", conversation.id,
                       train_manager ? ", turn " : ", question ",
                       train_manager ? absl::StrCat(candidate.turn) : candidate.qa->id, ")"));
    }
    ++summary.episodes;
    bool flat = true;
    for (const MemberOutcome& member : result->members) {
      reward_sum += member.reward;
      flat = flat && member.reward == result->members.front().reward;
      if (member.failure) ++summary.format_failures[FormatFailureName(member.failure->kind)];
    }
    summary.flat_groups += flat ? 1 : 0;
    for (v1::Trajectory& trajectory : result->trajectories) {
      summary.trajectories.push_back(std::move(trajectory));
    }
    meter.Update(e + 1);
  }
  const int64_t episode_trajectories =
      static_cast<int64_t>(summary.trajectories.size()) - summary.bank_demos;
  if (episode_trajectories > 0) {
    summary.mean_reward = reward_sum / static_cast<double>(episode_trajectories);
  }
  return summary;
}

}  // namespace memr1::actor
