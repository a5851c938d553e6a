#include "actor/episodes.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/answer_agent.h"
#include "actor/bank_builder.h"
#include "actor/fact_extraction.h"
#include "actor/memory_manager.h"
#include "actor/trajectory_builder.h"
#include "actor/turns.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/string_view.h"

namespace memr1::actor {
namespace {

// "ADD 'Maya lives in Lisbon'; DELETE m1" for trajectory annotations.
std::string OpsSummary(const std::vector<v1::Operation>& ops) {
  std::vector<std::string> parts;
  for (const v1::Operation& op : ops) {
    std::string part = v1::MemoryEvent_Name(op.event());
    if (!op.memory_id().empty()) absl::StrAppend(&part, " ", op.memory_id());
    if (!op.text().empty()) absl::StrAppend(&part, " '", op.text(), "'");
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, "; ");
}

// The banks of one episode's members: whatever was made is dropped when this goes out of scope,
// on success and on every error path alike (forks are scratch state, never results).
class ForkSet {
 public:
  explicit ForkSet(const memstore::ShardRouter* router) : router_(router) {}
  ForkSet(const ForkSet&) = delete;
  ForkSet& operator=(const ForkSet&) = delete;
  ~ForkSet() {
    for (const std::string& bank : banks_) {
      absl::Status status = router_->Drop(bank);
      if (!status.ok()) {
        MEMR1_LOG(WARNING) << "could not drop episode bank " << bank
                           << " (its TTL will remove it): " << status.ToString();
      }
    }
  }
  void Add(std::string bank) { banks_.push_back(std::move(bank)); }

 private:
  const memstore::ShardRouter* router_;
  std::vector<std::string> banks_;
};

absl::Status CheckCompletions(const std::vector<Completion>& completions, size_t expected,
                              std::string_view what) {
  if (completions.size() == expected) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(ToAbsl(what), ": the policy returned ",
                                          completions.size(), " completions for ", expected,
                                          " requests"));
}

}  // namespace

absl::StatusOr<EpisodeOptions> EpisodeOptions::FromConfig(const v1::JobConfig& config) {
  const v1::ActorConfig& actor = config.actor();
  const v1::SamplingConfig& sampling = actor.sampling();
  EpisodeOptions options;
  options.group_size = sampling.group_size();
  options.train_sampling.temperature = sampling.temperature();
  options.train_sampling.top_p = sampling.top_p();
  options.train_sampling.top_k = sampling.top_k();
  options.train_sampling.max_tokens = sampling.max_response_tokens();
  options.train_sampling.seed = 0;
  options.frozen_sampling.temperature = actor.eval_temperature();
  options.frozen_sampling.top_p = 1.0;
  options.frozen_sampling.top_k = 0;
  options.frozen_sampling.max_tokens = sampling.max_response_tokens();
  options.frozen_sampling.seed = 0;
  options.questions_per_episode = actor.questions_per_episode();
  options.retrieve_k = actor.memory_manager().retrieve_k();
  options.per_speaker_k = actor.answer_agent().per_speaker_k();
  options.max_facts_per_turn = actor.memory_manager().max_facts_per_turn();
  options.llm_extraction =
      actor.memory_manager().fact_extraction() != v1::MemoryManagerConfig::IDENTITY;
  options.fork_ttl_seconds = config.memstore().bank_ttl_seconds();
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::Status EpisodeOptions::Validate() const {
  auto invalid = [](std::string_view field, int64_t value) {
    return absl::InvalidArgumentError(
        absl::StrCat("episodes: ", ToAbsl(field), " must be >= 1, got ", value));
  };
  if (group_size < 1) return invalid("group_size", group_size);
  if (questions_per_episode < 1) return invalid("questions_per_episode", questions_per_episode);
  if (retrieve_k < 1) return invalid("retrieve_k", retrieve_k);
  if (per_speaker_k < 1) return invalid("per_speaker_k", per_speaker_k);
  if (max_facts_per_turn < 1) return invalid("max_facts_per_turn", max_facts_per_turn);
  if (fork_ttl_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("episodes: fork_ttl_seconds must be >= 0, got ", fork_ttl_seconds));
  }
  if (absl::Status status = train_sampling.Validate(); !status.ok()) {
    return Annotate(status, "episodes: train sampling");
  }
  if (absl::Status status = frozen_sampling.Validate(); !status.ok()) {
    return Annotate(status, "episodes: frozen sampling");
  }
  return absl::OkStatus();
}

std::vector<int> ManagerEpisodeTurns(const Conversation& conversation) {
  std::set<int> turns;
  for (const QaItem& qa : conversation.qa) {
    const int last = LastEvidenceTurn(conversation, qa.evidence);
    if (last >= 0) turns.insert(last);
  }
  return std::vector<int>(turns.begin(), turns.end());
}

std::vector<const QaItem*> QuestionsForTurn(const Conversation& conversation, int turn, int max) {
  std::vector<const QaItem*> questions;
  for (const QaItem& qa : conversation.qa) {
    if (max > 0 && static_cast<int>(questions.size()) >= max) break;
    if (LastEvidenceTurn(conversation, qa.evidence) == turn) questions.push_back(&qa);
  }
  return questions;
}

std::string MemberBankName(const std::string& base_bank, const std::string& episode_id,
                           int member) {
  return absl::StrCat(base_bank, "/", SanitizeBankComponent(episode_id), "/g", member);
}

struct EpisodeRunner::Impl {
  const memstore::ShardRouter* router;
  TextPolicy* extraction_policy;
  TextPolicy* manager_policy;
  TextPolicy* answer_policy;
  const PromptTemplates* templates;
  const RewardScorer* scorer;
  EpisodeOptions options;

  absl::StatusOr<std::vector<std::string>> ExtractFacts(const TurnContext& turn, uint64_t seed,
                                                        std::string* why_none);
  // Makes member bank `name` at the base bank's seq `turn` (see the file comment).
  absl::Status MakeMemberBank(const std::string& base_bank, int turn, const std::string& name);
};

absl::StatusOr<std::vector<std::string>> EpisodeRunner::Impl::ExtractFacts(const TurnContext& turn,
                                                                           uint64_t seed,
                                                                           std::string* why_none) {
  if (!options.llm_extraction) return std::vector<std::string>{IdentityFact(turn)};
  SamplingOptions sampling = options.frozen_sampling;
  sampling.seed = seed;
  const std::vector<PolicyRequest> requests = {BuildExtractionRequest(*templates, turn, sampling)};
  absl::StatusOr<std::vector<Completion>> completions = extraction_policy->Complete(requests);
  if (!completions.ok()) return Annotate(completions.status(), "fact extraction");
  MEMR1_RETURN_IF_ERROR(CheckCompletions(*completions, 1, "fact extraction"));
  Parsed<std::vector<std::string>> facts =
      ParseFacts(completions->front().text, options.max_facts_per_turn);
  if (!facts.ok()) {
    CountFormatFailure("extraction", facts.failure->kind);
    *why_none =
        absl::StrCat("the extraction output was rejected (", FormatFailureName(facts.failure->kind),
                     ": ", ToAbsl(facts.failure->detail), ")");
    return std::vector<std::string>{};
  }
  if (facts.value->empty()) *why_none = "the extractor found nothing worth remembering";
  return *std::move(facts.value);
}

absl::Status EpisodeRunner::Impl::MakeMemberBank(const std::string& base_bank, int turn,
                                                 const std::string& name) {
  auto make = [&]() -> absl::StatusOr<v1::BankInfo> {
    if (turn == 0) {
      // The state before the first turn is empty; a fork at seq 0 would copy the latest state.
      v1::CreateBankRequest create;
      create.set_bank(name);
      create.set_ttl_seconds(options.fork_ttl_seconds);
      return router->CreateBank(create);
    }
    v1::ForkRequest fork;
    fork.set_source_bank(base_bank);
    fork.set_bank(name);
    fork.set_at_seq(static_cast<uint64_t>(turn));
    fork.set_ttl_seconds(options.fork_ttl_seconds);
    return router->Fork(fork);
  };
  absl::StatusOr<v1::BankInfo> info = make();
  if (absl::IsAlreadyExists(info.status())) {
    // Left over from an earlier attempt of this episode that could not clean up.
    MEMR1_LOG(WARNING) << "episode bank " << name << " exists from an earlier attempt; remaking it";
    MEMR1_RETURN_IF_ERROR(
        Annotate(router->Drop(name), absl::StrCat("dropping stale bank '", name, "'")));
    info = make();
  }
  if (!info.ok()) {
    return Annotate(info.status(),
                    absl::StrCat(turn == 0 ? "creating" : "forking", " episode bank '", name, "'"));
  }
  return absl::OkStatus();
}

EpisodeRunner::EpisodeRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EpisodeRunner::~EpisodeRunner() = default;

const EpisodeOptions& EpisodeRunner::options() const { return impl_->options; }

absl::StatusOr<std::unique_ptr<EpisodeRunner>> EpisodeRunner::Create(
    const memstore::ShardRouter* router, TextPolicy* extraction_policy, TextPolicy* manager_policy,
    TextPolicy* answer_policy, const PromptTemplates* templates, const RewardScorer* scorer,
    EpisodeOptions options) {
  if (router == nullptr) return absl::InvalidArgumentError("episodes need a memstore router");
  if (manager_policy == nullptr)
    return absl::InvalidArgumentError("episodes need a manager policy");
  if (answer_policy == nullptr) return absl::InvalidArgumentError("episodes need an answer policy");
  if (templates == nullptr) return absl::InvalidArgumentError("episodes need prompt templates");
  if (scorer == nullptr) return absl::InvalidArgumentError("episodes need a reward scorer");
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (options.llm_extraction && extraction_policy == nullptr) {
    return absl::InvalidArgumentError(
        "episodes with LLM fact extraction need an extraction policy");
  }
  auto impl = std::make_unique<Impl>();
  impl->router = router;
  impl->extraction_policy = extraction_policy;
  impl->manager_policy = manager_policy;
  impl->answer_policy = answer_policy;
  impl->templates = templates;
  impl->scorer = scorer;
  impl->options = std::move(options);
  return std::unique_ptr<EpisodeRunner>(new EpisodeRunner(std::move(impl)));
}

absl::StatusOr<EpisodeResult> EpisodeRunner::RunManagerEpisode(const ManagerEpisodeSpec& spec) {
  Impl& m = *impl_;
  if (spec.conversation == nullptr) {
    return absl::InvalidArgumentError("manager episode: no conversation");
  }
  const Conversation& conversation = *spec.conversation;
  const int t = spec.turn;
  const std::string where = absl::StrCat("manager episode '", spec.episode_id, "' (conversation '",
                                         conversation.id, "', turn ", t, ")");
  if (spec.episode_id.empty()) return absl::InvalidArgumentError(where + ": empty episode id");
  if (spec.base_bank.empty() || spec.base_bank.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": base bank '", spec.base_bank,
                                                   "' must be a non-empty name without '/'"));
  }
  const std::vector<TurnContext> turns = FlattenTurns(conversation);
  if (t < 0 || t >= static_cast<int>(turns.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the conversation has ", turns.size(), " turns"));
  }
  if (!m.manager_policy->has_tokens()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": the manager policy (", m.manager_policy->Describe(),
                     ") reports no token ids, so its samples cannot be trained on"));
  }
  const std::vector<const QaItem*> questions =
      QuestionsForTurn(conversation, t, m.options.questions_per_episode);
  if (questions.empty()) {
    return absl::FailedPreconditionError(
        where +
        ": no question has its last evidence at this turn (pick turns from "
        "ManagerEpisodeTurns)");
  }
  absl::StatusOr<v1::BankInfo> base = m.router->ForBank(spec.base_bank).GetBank(spec.base_bank);
  if (!base.ok()) return Annotate(base.status(), where + ": base bank");
  if (base->seq() < static_cast<uint64_t>(t)) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": base bank '", spec.base_bank,
                                                      "' is at seq ", base->seq(),
                                                      ", before the turn; build it first"));
  }

  // One decision context for the whole group: the same facts and the same shown memories.
  std::string why_none;
  absl::StatusOr<std::vector<std::string>> facts = m.ExtractFacts(turns[t], spec.seed, &why_none);
  if (!facts.ok()) return Annotate(facts.status(), where);
  // A turn without facts (LLM extraction found none, or its output did not parse) is still an
  // episode: the manager sees an empty fact list, and deciding nothing is the right answer. So
  // every work unit yields a whole group, as the learner's batch arithmetic expects.
  if (facts->empty() && !why_none.empty()) {
    MEMR1_LOG(INFO) << where << ": no facts (" << why_none << "); the group decides on none";
  }
  ManagerInput input;
  input.turn = turns[t];
  input.facts = *std::move(facts);
  if (t > 0) {
    absl::StatusOr<std::vector<ShownMemory>> shown = RetrieveRelated(
        *m.router, spec.base_bank, static_cast<uint64_t>(t), input.facts, m.options.retrieve_k);
    if (!shown.ok()) return Annotate(shown.status(), where + ": retrieving related memories");
    input.shown = *std::move(shown);
  }

  const int group = m.options.group_size;
  std::vector<PolicyRequest> requests;
  requests.reserve(group);
  for (int g = 0; g < group; ++g) {
    SamplingOptions sampling = m.options.train_sampling;
    sampling.seed = spec.seed + static_cast<uint64_t>(g);
    requests.push_back(BuildManagerRequest(*m.templates, input, sampling));
  }
  const int64_t policy_version = m.manager_policy->version();
  absl::StatusOr<std::vector<Completion>> decisions = m.manager_policy->Complete(requests);
  if (!decisions.ok()) return Annotate(decisions.status(), where + ": memory manager");
  MEMR1_RETURN_IF_ERROR(CheckCompletions(*decisions, group, where + ": memory manager"));

  EpisodeResult result;
  result.episode_id = spec.episode_id;
  for (const QaItem* qa : questions) result.question_ids.push_back(qa->id);
  result.members.resize(group);

  // Each member's decision lands on its own copy of the state before the turn.
  ForkSet forks(m.router);
  for (int g = 0; g < group; ++g) {
    MemberOutcome& member = result.members[g];
    member.member = g;
    member.completion = (*decisions)[g].text;
    member.fork = MemberBankName(spec.base_bank, spec.episode_id, g);
    MEMR1_RETURN_IF_ERROR(Annotate(m.MakeMemberBank(spec.base_bank, t, member.fork), where));
    forks.Add(member.fork);
    Parsed<std::vector<ManagerOp>> parsed =
        ParseManagerOutput(member.completion, static_cast<int>(input.shown.size()));
    if (!parsed.ok()) {
      member.failure = parsed.failure;
      CountFormatFailure("memory_manager", parsed.failure->kind);
      continue;
    }
    member.ops = ToOperations(*parsed.value, input);
    if (member.ops.empty()) continue;
    v1::ApplyRequest apply;
    apply.set_bank(member.fork);
    apply.set_request_id(absl::StrCat("turn-", t));
    for (const v1::Operation& op : member.ops) *apply.add_ops() = op;
    absl::StatusOr<v1::ApplyResponse> applied = m.router->Apply(std::move(apply));
    if (!applied.ok()) {
      return Annotate(applied.status(),
                      absl::StrCat(where, ": applying member ", g, "'s operations"));
    }
  }

  // The frozen Answer Agent answers every question from every member's bank, in one batch.
  SamplingOptions frozen = m.options.frozen_sampling;
  frozen.seed = spec.seed;
  std::vector<PolicyRequest> answer_requests;
  std::vector<std::vector<ShownMemory>> answer_shown;
  for (int g = 0; g < group; ++g) {
    for (const QaItem* qa : questions) {
      absl::StatusOr<AnswerInput> retrieved = RetrieveForQuestion(
          *m.router, result.members[g].fork, /*as_of_seq=*/0, qa->question, conversation.speaker_a,
          conversation.speaker_b, m.options.per_speaker_k);
      if (!retrieved.ok()) {
        return Annotate(retrieved.status(),
                        absl::StrCat(where, ": retrieval for question '", qa->id, "'"));
      }
      absl::StatusOr<AnswerRequest> request =
          BuildAnswerRequest(*m.templates, *retrieved, frozen, m.answer_policy);
      if (!request.ok()) {
        return Annotate(request.status(),
                        absl::StrCat(where, ": answer prompt for question '", qa->id, "'"));
      }
      answer_requests.push_back(std::move(request->request));
      answer_shown.push_back(std::move(request->shown));
    }
  }
  absl::StatusOr<std::vector<Completion>> answers = m.answer_policy->Complete(answer_requests);
  if (!answers.ok()) return Annotate(answers.status(), where + ": frozen answer agent");
  MEMR1_RETURN_IF_ERROR(
      CheckCompletions(*answers, answer_requests.size(), where + ": frozen answer agent"));

  const size_t q_count = questions.size();
  for (int g = 0; g < group; ++g) {
    MemberOutcome& member = result.members[g];
    nlohmann::json scored = nlohmann::json::array();
    double total = 0;
    for (size_t q = 0; q < q_count; ++q) {
      const size_t index = static_cast<size_t>(g) * q_count + q;
      const std::string& text = (*answers)[index].text;
      Parsed<ParsedAnswer> parsed =
          ParseAnswerOutput(text, m.templates->answer_marker, answer_shown[index]);
      std::string answer;
      if (parsed.ok()) {
        answer = parsed.value->answer;
      } else {
        CountFormatFailure("answer_agent", parsed.failure->kind);
        answer = FallbackAnswer(text);
      }
      const QaItem& qa = *questions[q];
      absl::StatusOr<double> score =
          m.scorer->Score(qa.question, answer, qa.answer, !member.failure.has_value());
      if (!score.ok()) {
        return Annotate(score.status(), absl::StrCat(where, ": reward of member ", g));
      }
      total += *score;
      scored.push_back(
          {{"question_id", qa.id}, {"answer", answer}, {"gold", qa.answer}, {"score", *score}});
      member.answers.push_back(std::move(answer));
    }
    member.reward = total / static_cast<double>(q_count);

    TrajectoryInfo info;
    info.agent = v1::AGENT_KIND_MEMORY_MANAGER;
    info.policy_version = policy_version;
    info.reward = member.reward;
    info.group_id = spec.episode_id;
    info.episode.set_conversation_id(conversation.id);
    info.episode.set_turn_index(t);
    info.episode.set_actor_id(m.options.actor_id);
    info.episode.set_work_unit_id(spec.work_unit_id);
    auto& notes = *info.episode.mutable_annotations();
    notes["ops"] = OpsSummary(member.ops);
    notes["facts"] = nlohmann::json(input.facts).dump();
    notes["answers"] = scored.dump();
    if (member.failure.has_value()) {
      notes["failure"] =
          absl::StrCat(FormatFailureName(member.failure->kind), ": ", member.failure->detail);
    }
    absl::StatusOr<v1::Trajectory> trajectory = MakeTrajectory((*decisions)[g], info);
    if (!trajectory.ok()) {
      return Annotate(trajectory.status(), absl::StrCat(where, ": trajectory of member ", g));
    }
    result.trajectories.push_back(*std::move(trajectory));
  }
  return result;
}

absl::StatusOr<EpisodeResult> EpisodeRunner::RunAnswerEpisode(const AnswerEpisodeSpec& spec) {
  Impl& m = *impl_;
  if (spec.conversation == nullptr || spec.question == nullptr) {
    return absl::InvalidArgumentError("answer episode: no conversation or no question");
  }
  const Conversation& conversation = *spec.conversation;
  const QaItem& qa = *spec.question;
  const std::string where = absl::StrCat("answer episode '", spec.episode_id, "' (question '",
                                         qa.id, "', bank '", spec.bank, "')");
  if (spec.episode_id.empty()) return absl::InvalidArgumentError(where + ": empty episode id");
  if (spec.bank.empty()) return absl::InvalidArgumentError(where + ": empty bank name");
  if (!m.answer_policy->has_tokens()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": the answer policy (", m.answer_policy->Describe(),
                     ") reports no token ids, so its samples cannot be trained on"));
  }
  absl::StatusOr<AnswerInput> retrieved =
      RetrieveForQuestion(*m.router, spec.bank, /*as_of_seq=*/0, qa.question,
                          conversation.speaker_a, conversation.speaker_b, m.options.per_speaker_k);
  if (!retrieved.ok()) return Annotate(retrieved.status(), where + ": retrieval");
  absl::StatusOr<AnswerRequest> prompt =
      BuildAnswerRequest(*m.templates, *retrieved, m.options.train_sampling, m.answer_policy);
  if (!prompt.ok()) return Annotate(prompt.status(), where + ": answer prompt");

  const int group = m.options.group_size;
  std::vector<PolicyRequest> requests(group, prompt->request);
  for (int g = 0; g < group; ++g) {
    requests[g].sampling.seed = spec.seed + static_cast<uint64_t>(g);
  }
  const int64_t policy_version = m.answer_policy->version();
  absl::StatusOr<std::vector<Completion>> completions = m.answer_policy->Complete(requests);
  if (!completions.ok()) return Annotate(completions.status(), where + ": answer agent");
  MEMR1_RETURN_IF_ERROR(CheckCompletions(*completions, group, where + ": answer agent"));

  EpisodeResult result;
  result.episode_id = spec.episode_id;
  result.question_ids = {qa.id};
  result.members.resize(group);
  for (int g = 0; g < group; ++g) {
    MemberOutcome& member = result.members[g];
    member.member = g;
    member.completion = (*completions)[g].text;
    Parsed<ParsedAnswer> parsed =
        ParseAnswerOutput(member.completion, m.templates->answer_marker, prompt->shown);
    std::string answer;
    if (parsed.ok()) {
      answer = parsed.value->answer;
      member.selected_ids = parsed.value->selected_ids;
    } else {
      member.failure = parsed.failure;
      CountFormatFailure("answer_agent", parsed.failure->kind);
      answer = FallbackAnswer(member.completion);
    }
    absl::StatusOr<double> score = m.scorer->Score(qa.question, answer, qa.answer, parsed.ok());
    if (!score.ok()) return Annotate(score.status(), absl::StrCat(where, ": reward of member ", g));
    member.reward = *score;
    member.answers = {answer};

    TrajectoryInfo info;
    info.agent = v1::AGENT_KIND_ANSWER_AGENT;
    info.policy_version = policy_version;
    info.reward = member.reward;
    info.group_id = spec.episode_id;
    info.episode.set_conversation_id(conversation.id);
    info.episode.set_question_id(qa.id);
    info.episode.set_turn_index(-1);
    info.episode.set_actor_id(m.options.actor_id);
    info.episode.set_work_unit_id(spec.work_unit_id);
    auto& notes = *info.episode.mutable_annotations();
    notes["answer"] = answer;
    notes["gold"] = qa.answer;
    notes["selected_ids"] = absl::StrJoin(member.selected_ids, ",");
    if (member.failure.has_value()) {
      notes["failure"] =
          absl::StrCat(FormatFailureName(member.failure->kind), ": ", member.failure->detail);
    }
    absl::StatusOr<v1::Trajectory> trajectory = MakeTrajectory((*completions)[g], info);
    if (!trajectory.ok()) {
      return Annotate(trajectory.status(), absl::StrCat(where, ": trajectory of member ", g));
    }
    result.trajectories.push_back(*std::move(trajectory));
  }
  return result;
}

}  // namespace memr1::actor
