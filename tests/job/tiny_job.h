#pragma once

// The tiny distributed job the job-level tests run (tests/job through `memr1 launch`,
// tests/deploy through Slurm): a small synthetic world, a tiny random model whose tokenizer is
// trained on it, and a config with 2 memstore shards, 2 actors and 2 learner ranks. The model
// learns nothing useful; the tests check the plumbing.

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "actor/dataset.h"
#include "actor/turns.h"
#include "tests/actor/tiny_model.h"
#include "tests/testing/process.h"

namespace memr1::testing {

// Writes the world (`world_path`) and the model directory (`model_dir`).
inline absl::Status WriteTinyJobFiles(const std::string& world_path, const std::string& model_dir) {
  const auto synth = ::memr1::testing::RunMemr1(
      absl::StrCat("data synth --seed 3 --conversations 3 --sessions 2 --turns 6 --questions 5 ",
                   "--output ", world_path));
  if (synth.exit_code != 0) return absl::InternalError("data synth: " + synth.output);
  absl::StatusOr<actor::Dataset> dataset =
      actor::LoadDataset(actor::DatasetKind::kSynthetic, world_path);
  if (!dataset.ok()) return dataset.status();
  std::vector<std::string> corpus;
  for (const actor::Conversation& conversation : dataset->conversations) {
    for (const actor::TurnContext& turn : actor::FlattenTurns(conversation)) {
      corpus.push_back(turn.text);
    }
    for (const actor::QaItem& qa : conversation.qa) corpus.push_back(qa.question + " " + qa.answer);
  }
  return actor::testing::WriteTinyModel(model_dir, corpus, /*seed=*/5);
}

struct TinyJob {
  std::string name;
  std::string output_dir;
  std::string model_dir;
  std::string world_path;
  std::string mode = "sync";  // coordinator.mode
  int steps = 2;
  int checkpoint_every = 1;
};

// Writes the job's config to `path`.
inline void WriteTinyJobConfig(const std::string& path, const TinyJob& job) {
  std::ofstream(path) << "name: " << job.name << "\n"
                      << "output_dir: " << job.output_dir << "\n"
                      << "seed: 7\n"
                      << "model:\n  path: " << job.model_dir << "\n"
                      << "memstore:\n  num_shards: 2\n"
                      << "actor:\n  num_actors: 2\n  train_agent: memory_manager\n"
                      << "  sampling:\n    max_prompt_tokens: 1536\n"
                      << "    max_response_tokens: 12\n    group_size: 2\n"
                      << "  questions_per_episode: 2\n"
                      << "  memory_manager:\n    retrieve_k: 3\n    fact_extraction: identity\n"
                      << "  answer_agent:\n    per_speaker_k: 4\n"
                      << "learner:\n  num_ranks: 2\n  global_batch_size: 4\n"
                      << "  micro_batch_size: 2\n  total_steps: " << job.steps << "\n"
                      << "  checkpoint_every: " << job.checkpoint_every << "\n"
                      << "  kl_coef: 0\n  actor_lr: 0.001\n"
                      << "coordinator:\n  mode: " << job.mode << "\n  max_staleness: 1\n"
                      << "  lease_seconds: 20\n  heartbeat_seconds: 1\n"
                      << "data:\n  dataset: synthetic\n  path: " << job.world_path << "\n"
                      << "  train_conversations: 1\n  validation_conversations: 1\n"
                      << "  test_conversations: 1\n";
}

}  // namespace memr1::testing
