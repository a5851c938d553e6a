#include "actor/rollout.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actor/bank_builder.h"
#include "actor/dataset.h"
#include "actor/episodes.h"
#include "actor/job_memstore.h"
#include "actor/policy_factory.h"
#include "actor/prompts.h"
#include "actor/rewards.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "eval/judge_client.h"

namespace memr1::actor {
namespace {

namespace fs = std::filesystem;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Fisher-Yates with SplitMix64: the same permutation on every platform and standard library.
template <typename T>
void Shuffle(std::vector<T>* items, uint64_t* state) {
  for (size_t i = items->size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(SplitMix64(state) % i);
    std::swap((*items)[i - 1], (*items)[j]);
  }
}

struct Candidate {
  size_t conversation = 0;
  int turn = -1;               // MM
  const QaItem* qa = nullptr;  // AA
};

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
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<BankBuilder> builder,
                         BankBuilder::Create(memstore.router.get(), policies.extraction(),
                                             policies.manager(), &templates, build));
  std::unique_ptr<ProgressMeter> bank_meter;
  MEMR1_ASSIGN_OR_RETURN(const std::vector<BuiltBank> banks,
                         builder->Build(conversations, [&](int64_t done, int64_t total) {
                           if (bank_meter == nullptr) {
                             bank_meter = std::make_unique<ProgressMeter>("banks (turns)", total,
                                                                          options.progress);
                           }
                           bank_meter->Update(done);
                         }));

  // 2. Candidates, in a seeded order.
  std::vector<Candidate> candidates;
  for (size_t c = 0; c < conversations.size(); ++c) {
    if (train_manager) {
      for (int turn : ManagerEpisodeTurns(*conversations[c])) candidates.push_back({c, turn});
    } else {
      for (const QaItem& qa : conversations[c]->qa) candidates.push_back({c, -1, &qa});
    }
  }
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
  uint64_t shuffle_state = job.seed();
  std::vector<Candidate> order;
  double reward_sum = 0;
  for (int64_t e = 0; e < options.episodes; ++e) {
    if (order.empty()) {
      order = candidates;
      Shuffle(&order, &shuffle_state);
      std::reverse(order.begin(), order.end());  // pop_back takes them in shuffled order
    }
    const Candidate candidate = order.back();
    order.pop_back();
    const Conversation& conversation = *conversations[candidate.conversation];
    const std::string episode_id = absl::StrCat(job.seed(), "-", e);
    const uint64_t seed = job.seed() * 1000003ull + static_cast<uint64_t>(e);
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
      if (result.status().code() == absl::StatusCode::kFailedPrecondition) {
        ++summary.skipped;  // no facts at this turn (LLM extraction found none)
        meter.Update(e + 1);
        continue;
      }
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
  if (!summary.trajectories.empty()) {
    summary.mean_reward = reward_sum / static_cast<double>(summary.trajectories.size());
  }
  return summary;
}

}  // namespace memr1::actor
