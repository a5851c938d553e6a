#pragma once

// `memr1 eval`: a whole Memory-R1 evaluation, or one of its baselines, on one split.
//
//   1. Load the dataset and take the split's conversations (data.*); questions in file order,
//      at most eval.limit (0 = all); only conversations with a selected question are used.
//   2. Build each conversation's bank with the pipeline's manager (BankBuilder; banks are cached
//      in memstore, so a second run reuses them).
//   3. Answer every question with the Answer Agent (batched), parse, score with every automatic
//      metric (eval::ScoreAnswer) and, when eval.judge_enabled, the LLM judge.
//   4. Write predictions.jsonl (one line per question: ids, question, gold, prediction, the
//      memories retrieved and those the agent selected, the format failure if any, the scores)
//      and the per-category table as report.md / report.json / report.csv.
//
// Pipelines (eval.pipeline):
//   MEMORY_R1     the configured agents (actor.memory_manager.policy, actor.answer_agent.policy)
//   MEM0          the same agents, every local policy on the base model (model.path)
//   ADD_ONLY      the configured extraction, every fact ADDed (no manager)
//   LOCOMO_RAG    every raw turn is a memory; the top eval.rag_top_k over both speakers answer
//   FULL_CONTEXT  no memory: the transcript ("[date] speaker: text" lines) fills {{memories}};
//                 the oldest turns are left out when it does not fit the answer policy's prompt
//                 budget (counted as truncated_contexts)
//
// Memstore: memstore.shards when set; otherwise an in-process memstore server on 127.0.0.1
// whose data lives in <output_dir>/memstore (so banks persist between runs).
//
// Thread safety: RunEvaluation is a blocking call; not meant to run twice at once on one
// output directory.

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "actor/bank_builder.h"
#include "eval/report.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

struct EvalRunOptions {
  // Where predictions and reports go; empty: <job.output_dir>/eval/<pipeline>-<split>.
  std::string output_dir;
  // Progress lines (null: none).
  std::ostream* progress = nullptr;
};

struct EvalSummary {
  std::string output_dir;
  std::string pipeline;  // "memory_r1", "full_context", ...
  std::string split;     // "train", "validation", "test"
  int64_t conversations = 0;
  int64_t questions = 0;
  eval::ScoreReport report;
  eval::CategoryNaming naming = eval::CategoryNaming::kLocomo;
  BankBuildStats bank_stats;
  int64_t banks_reused = 0;
  int64_t answer_format_failures = 0;
  std::map<std::string, int64_t> answer_failures_by_kind;
  int64_t memories_dropped_for_budget = 0;
  int64_t truncated_contexts = 0;  // FULL_CONTEXT only
  double seconds = 0;
};

// "memory_r1", "full_context", "locomo_rag", "mem0", "add_only".
std::string PipelineName(v1::EvalConfig::Pipeline pipeline);

// Runs the evaluation `job` describes (eval.*, data.*, actor.*, model.*, memstore.*). Errors
// name the stage (dataset, policy, bank building of a conversation, answering a question);
// files are written only when every question was answered.
absl::StatusOr<EvalSummary> RunEvaluation(const v1::JobConfig& job,
                                          const EvalRunOptions& options);

}  // namespace memr1::actor
