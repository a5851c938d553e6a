#include "actor/evaluation.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "actor/answer_agent.h"
#include "actor/dataset.h"
#include "actor/episodes.h"
#include "actor/job_memstore.h"
#include "actor/policy_factory.h"
#include "actor/prompts.h"
#include "actor/turns.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "eval/judge_client.h"
#include "eval/metrics.h"
#include "memstore/client.h"
#include "memstore/server.h"
#include "memstore/shard_router.h"

namespace memr1::actor {
namespace {

namespace fs = std::filesystem;

// MEMR1_ASSIGN_OR_RETURN with `context` prepended to the error.
#define ASSIGN_OR_RETURN_IN(lhs, expr, context) \
  ASSIGN_OR_RETURN_IN_IMPL_(MEMR1_STATUS_CONCAT_(eval_statusor_, __LINE__), lhs, expr, context)
#define ASSIGN_OR_RETURN_IN_IMPL_(statusor, lhs, expr, context)               \
  auto statusor = (expr);                                                     \
  if (!statusor.ok()) return Annotate(std::move(statusor).status(), context); \
  lhs = std::move(statusor).value()
using Pipeline = v1::EvalConfig::Pipeline;

// Questions answered per policy call: large enough for the engine's continuous
// batching, small enough that progress moves.
constexpr size_t kAnswerChunk = 32;

struct QuestionRef {
  const Conversation* conversation = nullptr;
  const QaItem* qa = nullptr;
  size_t conversation_slot = 0;  // index into the selected conversations (and their banks)
};

// The policies a pipeline needs: the answer policy always, the extraction/manager policy when
// the pipeline extracts facts with an LLM or runs the manager (agents configured alike share one
// instance, see PolicySet).
struct Policies {
  std::optional<PolicySet> set;
  std::unique_ptr<TextPolicy> answer_only;
  TextPolicy* manager = nullptr;
  TextPolicy* answer = nullptr;
};

bool NeedsManagerPolicy(Pipeline pipeline) {
  return pipeline == v1::EvalConfig::MEMORY_R1 || pipeline == v1::EvalConfig::MEM0;
}

bool UsesLlmExtraction(Pipeline pipeline, const v1::JobConfig& job) {
  if (pipeline == v1::EvalConfig::LOCOMO_RAG || pipeline == v1::EvalConfig::FULL_CONTEXT) {
    return false;
  }
  return job.actor().memory_manager().fact_extraction() == v1::MemoryManagerConfig::LLM;
}

absl::StatusOr<Policies> MakePolicies(const v1::JobConfig& job, Pipeline pipeline) {
  Policies policies;
  if (NeedsManagerPolicy(pipeline) || UsesLlmExtraction(pipeline, job)) {
    MEMR1_ASSIGN_OR_RETURN(policies.set, PolicySet::FromJob(job, pipeline == v1::EvalConfig::MEM0));
    policies.manager = policies.set->manager();
    policies.answer = policies.set->answer();
  } else {
    ASSIGN_OR_RETURN_IN(policies.answer_only, MakePolicy(job.actor().answer_agent().policy(), job),
                        "actor.answer_agent.policy");
    policies.answer = policies.answer_only.get();
  }
  return policies;
}

std::string BankTag(Pipeline pipeline) {
  switch (pipeline) {
    case v1::EvalConfig::MEM0:
      return "mem0";
    case v1::EvalConfig::ADD_ONLY:
      return "addonly";
    case v1::EvalConfig::LOCOMO_RAG:
      return "rag";
    default:
      return "mr1";
  }
}

Split ToSplit(v1::EvalConfig::Split split) {
  switch (split) {
    case v1::EvalConfig::TRAIN:
      return Split::kTrain;
    case v1::EvalConfig::VALIDATION:
      return Split::kValidation;
    default:
      return Split::kTest;
  }
}

nlohmann::json MemoryJson(const ShownMemory& memory) {
  return {{"id", memory.id},           {"text", memory.text},
          {"speaker", memory.speaker}, {"session_time", memory.session_time},
          {"turn_id", memory.turn_id}, {"score", memory.score}};
}

// The transcript of `conversation` as answer-prompt memories, keeping the
// latest turns that fit the answer policy's budget. `*truncated` is set when
// turns were left out.
absl::StatusOr<PolicyRequest> FullContextRequest(const PromptTemplates& templates,
                                                 const Conversation& conversation, const QaItem& qa,
                                                 const SamplingOptions& sampling,
                                                 const TextPolicy& policy, bool* truncated) {
  std::vector<std::string> lines;
  for (const TurnContext& turn : FlattenTurns(conversation)) {
    lines.push_back(absl::StrCat("[", turn.session_time, "] ", turn.speaker, ": ", turn.text));
  }
  auto render = [&](size_t keep) {
    std::string transcript;
    for (size_t i = lines.size() - keep; i < lines.size(); ++i) {
      absl::StrAppend(&transcript, lines[i], "\n");
    }
    return AnswerPromptRequest(templates, qa.question, transcript, conversation.speaker_a,
                               conversation.speaker_b, sampling);
  };
  *truncated = false;
  const int64_t budget = policy.max_prompt_tokens();
  if (budget <= 0) return render(lines.size());
  auto fits = [&](size_t keep) -> absl::StatusOr<bool> {
    MEMR1_ASSIGN_OR_RETURN(const int64_t tokens, policy.CountPromptTokens(render(keep).messages));
    return tokens + sampling.max_tokens <= budget;
  };
  MEMR1_ASSIGN_OR_RETURN(const bool all_fit, fits(lines.size()));
  if (all_fit) return render(lines.size());
  // Binary search for the most recent turns that fit: fits(lo) holds, fits(hi)
  // does not.
  size_t lo = 0;
  size_t hi = lines.size();
  MEMR1_ASSIGN_OR_RETURN(const bool none_fit, fits(0));
  if (!none_fit) {
    return absl::InvalidArgumentError(
        absl::StrCat("question ", qa.id, " does not fit the answer policy's prompt budget of ",
                     budget, " tokens even without any context"));
  }
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    MEMR1_ASSIGN_OR_RETURN(const bool ok, fits(mid));
    (ok ? lo : hi) = mid;
  }
  *truncated = true;
  return render(lo);
}

// Everything recorded about one answered question.
struct Answered {
  std::string prediction;
  std::string raw_output;
  bool parsed = false;
  std::optional<FormatFailure> failure;
  std::vector<ShownMemory> shown;
  std::vector<std::string> selected_ids;
};

}  // namespace

std::string PipelineName(v1::EvalConfig::Pipeline pipeline) {
  switch (pipeline) {
    case v1::EvalConfig::FULL_CONTEXT:
      return "full_context";
    case v1::EvalConfig::LOCOMO_RAG:
      return "locomo_rag";
    case v1::EvalConfig::MEM0:
      return "mem0";
    case v1::EvalConfig::ADD_ONLY:
      return "add_only";
    default:
      return "memory_r1";
  }
}

absl::StatusOr<EvalSummary> RunEvaluation(const v1::JobConfig& job, const EvalRunOptions& options) {
  const absl::Time start = absl::Now();
  const Pipeline pipeline = job.eval().pipeline() == v1::EvalConfig::PIPELINE_UNSPECIFIED
                                ? v1::EvalConfig::MEMORY_R1
                                : job.eval().pipeline();
  const Split split = ToSplit(job.eval().split());
  EvalSummary summary;
  summary.pipeline = PipelineName(pipeline);
  summary.split = SplitName(split);
  summary.output_dir = !options.output_dir.empty()
                           ? options.output_dir
                           : (fs::path(job.output_dir()) / "eval" /
                              absl::StrCat(summary.pipeline, "-", summary.split))
                                 .string();

  // 1. Data.
  ASSIGN_OR_RETURN_IN(const Dataset dataset, LoadDataset(job.data()), "eval dataset");
  summary.naming = CategoryNamingFor(dataset.kind);
  MEMR1_ASSIGN_OR_RETURN(const DatasetSplits splits,
                         SplitDataset(dataset, SplitSpecFrom(job.data())));
  std::vector<const Conversation*> conversations;
  std::vector<QuestionRef> questions;
  const int64_t limit = job.eval().limit();
  for (const Conversation* conversation : splits.Get(split)) {
    bool used = false;
    for (const QaItem& qa : conversation->qa) {
      if (limit > 0 && static_cast<int64_t>(questions.size()) >= limit) break;
      if (!used) {
        conversations.push_back(conversation);
        used = true;
      }
      questions.push_back({conversation, &qa, conversations.size() - 1});
    }
  }
  if (questions.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", summary.split, " split of ", dataset.source, " has no questions"));
  }
  summary.conversations = static_cast<int64_t>(conversations.size());
  summary.questions = static_cast<int64_t>(questions.size());
  MEMR1_LOG(INFO) << "eval " << summary.pipeline << " on " << summary.split << ": "
                  << summary.questions << " questions of " << summary.conversations
                  << " conversations from " << dataset.source;

  // 2. Policies, memstore, banks.
  MEMR1_ASSIGN_OR_RETURN(const PromptTemplates templates, PromptTemplates::FromConfig(job.actor()));
  MEMR1_ASSIGN_OR_RETURN(Policies policies, MakePolicies(job, pipeline));
  // Evaluation samples as the frozen agents of training do (actor.eval_temperature; 0 = greedy,
  // the paper's setting), seeded by the job.
  MEMR1_ASSIGN_OR_RETURN(const EpisodeOptions episode_options, EpisodeOptions::FromConfig(job));
  SamplingOptions sampling = episode_options.frozen_sampling;
  sampling.seed = job.seed();
  JobMemstore memstore;
  std::vector<BuiltBank> banks;
  if (pipeline != v1::EvalConfig::FULL_CONTEXT) {
    MEMR1_ASSIGN_OR_RETURN(
        memstore,
        ConnectJobMemstore(job, (fs::path(job.output_dir()) / "eval" / "memstore").string()));
    BankBuildOptions build;
    build.llm_extraction = UsesLlmExtraction(pipeline, job);
    build.manager_mode =
        NeedsManagerPolicy(pipeline) ? ManagerMode::kPolicy : ManagerMode::kAddOnly;
    build.retrieve_k = job.actor().memory_manager().retrieve_k();
    build.max_facts_per_turn = job.actor().memory_manager().max_facts_per_turn();
    build.sampling = sampling;
    build.ttl_seconds = job.memstore().bank_ttl_seconds();
    build.tag = BankTag(pipeline);
    MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<BankBuilder> builder,
                           BankBuilder::Create(memstore.router.get(), policies.manager,
                                               policies.manager, &templates, build));
    std::unique_ptr<ProgressMeter> meter;
    MEMR1_ASSIGN_OR_RETURN(banks, builder->Build(conversations, [&](int64_t done, int64_t total) {
      if (meter == nullptr)
        meter = std::make_unique<ProgressMeter>("banks (turns)", total, options.progress);
      meter->Update(done);
    }));
    for (const BuiltBank& bank : banks) {
      summary.bank_stats.Merge(bank.stats);
      summary.banks_reused += bank.reused ? 1 : 0;
    }
  }

  std::unique_ptr<eval::JudgeClient> judge;
  if (job.eval().judge_enabled()) {
    MEMR1_ASSIGN_OR_RETURN(eval::JudgeOptions judge_options,
                           eval::JudgeOptions::FromConfig(job.eval().judge()));
    MEMR1_ASSIGN_OR_RETURN(judge, eval::JudgeClient::Create(std::move(judge_options)));
  }

  // 3. Answers, in chunks.
  ProgressMeter meter("questions", summary.questions, options.progress);
  std::string predictions;
  const int per_speaker_k = job.actor().answer_agent().per_speaker_k();
  for (size_t begin = 0; begin < questions.size(); begin += kAnswerChunk) {
    const size_t end = std::min(questions.size(), begin + kAnswerChunk);
    std::vector<PolicyRequest> requests;
    std::vector<Answered> answered(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const QuestionRef& ref = questions[i];
      const Conversation& conversation = *ref.conversation;
      const QaItem& qa = *ref.qa;
      if (pipeline == v1::EvalConfig::FULL_CONTEXT) {
        bool truncated = false;
        MEMR1_ASSIGN_OR_RETURN(PolicyRequest request,
                               FullContextRequest(templates, conversation, qa, sampling,
                                                  *policies.answer, &truncated));
        summary.truncated_contexts += truncated ? 1 : 0;
        requests.push_back(std::move(request));
        continue;
      }
      const std::string& bank = banks[ref.conversation_slot].bank;
      AnswerInput input;
      if (pipeline == v1::EvalConfig::LOCOMO_RAG) {
        v1::SearchRequest search;
        search.set_bank(bank);
        search.set_query(qa.question);
        search.set_k(job.eval().rag_top_k());
        ASSIGN_OR_RETURN_IN(const v1::SearchResponse hits, memstore.router->Search(search),
                            absl::StrCat("retrieval for question ", qa.id));
        input.question = qa.question;
        input.speaker_a = conversation.speaker_a;
        input.speaker_b = conversation.speaker_b;
        for (const v1::SearchHit& hit : hits.hits()) {
          ShownMemory memory = ShownMemory::FromMemory(hit.memory(), hit.score());
          (memory.speaker == conversation.speaker_b ? input.memories_b : input.memories_a)
              .push_back(std::move(memory));
        }
      } else {
        ASSIGN_OR_RETURN_IN(
            input,
            RetrieveForQuestion(*memstore.router, bank, 0, qa.question, conversation.speaker_a,
                                conversation.speaker_b, per_speaker_k),
            absl::StrCat("retrieval for question ", qa.id));
      }
      MEMR1_ASSIGN_OR_RETURN(AnswerRequest request,
                             BuildAnswerRequest(templates, input, sampling, policies.answer));
      summary.memories_dropped_for_budget += request.dropped_for_budget;
      answered[i - begin].shown = std::move(request.shown);
      requests.push_back(std::move(request.request));
    }
    ASSIGN_OR_RETURN_IN(const std::vector<Completion> completions,
                        policies.answer->Complete(requests),
                        absl::StrCat("answering questions ", begin, "-", end - 1));
    for (size_t i = begin; i < end; ++i) {
      const QaItem& qa = *questions[i].qa;
      Answered& a = answered[i - begin];
      a.raw_output = completions[i - begin].text;
      Parsed<ParsedAnswer> parsed =
          ParseAnswerOutput(a.raw_output, templates.answer_marker, a.shown);
      if (parsed.ok()) {
        a.parsed = true;
        a.prediction = parsed.value->answer;
        a.selected_ids = parsed.value->selected_ids;
      } else {
        a.failure = parsed.failure;
        a.prediction = FallbackAnswer(a.raw_output);
        ++summary.answer_format_failures;
        ++summary.answer_failures_by_kind[FormatFailureName(parsed.failure->kind)];
      }
      const eval::AnswerScores scores = eval::ScoreAnswer(a.prediction, qa.answer, qa.category);
      std::optional<double> judge_score;
      if (judge != nullptr) {
        ASSIGN_OR_RETURN_IN(const eval::JudgeVerdict verdict,
                            judge->Judge(qa.question, qa.answer, a.prediction),
                            absl::StrCat("judging question ", qa.id));
        judge_score = verdict.score;
      }
      summary.report.Add(qa.category, scores, judge_score);
      nlohmann::json line = {
          {"id", qa.id},
          {"conversation_id", questions[i].conversation->id},
          {"category", qa.category},
          {"question", qa.question},
          {"gold", qa.answer},
          {"prediction", a.prediction},
          {"output", a.raw_output},
          {"parsed", a.parsed},
          {"format_failure",
           a.failure ? nlohmann::json(FormatFailureName(a.failure->kind)) : nlohmann::json()},
          {"selected_ids", a.selected_ids},
          {"em", scores.em},
          {"f1", scores.f1},
          {"f1_locomo", scores.f1_locomo},
          {"bleu1", scores.bleu1},
      };
      if (judge_score) line["judge"] = *judge_score;
      nlohmann::json memories = nlohmann::json::array();
      for (const ShownMemory& memory : a.shown) memories.push_back(MemoryJson(memory));
      line["memories"] = std::move(memories);
      absl::StrAppend(&predictions,
                      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n");
    }
    meter.Update(static_cast<int64_t>(end));
  }

  // 4. Files, only now that every question is answered.
  std::error_code error;
  fs::create_directories(summary.output_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", summary.output_dir, ": ", error.message()));
  }
  const fs::path dir(summary.output_dir);
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically((dir / "predictions.jsonl").string(), predictions));
  MEMR1_RETURN_IF_ERROR(
      WriteFileAtomically((dir / "report.md").string(), summary.report.ToMarkdown(summary.naming)));
  MEMR1_RETURN_IF_ERROR(
      WriteFileAtomically((dir / "report.json").string(), summary.report.ToJson(summary.naming)));
  MEMR1_RETURN_IF_ERROR(
      WriteFileAtomically((dir / "report.csv").string(), summary.report.ToCsv(summary.naming)));
  summary.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return summary;
}

}  // namespace memr1::actor
