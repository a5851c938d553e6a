#pragma once

// The quickstart (`memr1 quickstart`, `make demo`): Memory-R1 trained end to end on one machine.
//
// It runs seven stages, each as child `memr1` processes whose output is shown prefixed with the
// child's name and kept in <output_dir>/<stage>/logs/:
//   1. data         `memr1 data synth` (data.synthetic.*), then the train split's dialogue and
//                   the teacher's facts and memory texts about it (with its questions and
//                   answers) as a tokenizer corpus and as LM pretraining text
//   2. tokenizer    `memr1 tokenizer train` on that corpus
//   3. pretrain     `memr1 model init` (a tiny Qwen2 of the tokenizer's vocabulary) and LM
//                   pretraining (`memr1 learner offline --text`, SFT)
//   4. warm start   teacher demonstrations of both agents (`memr1 rollout`, policy backend
//                   TEACHER; the manager at every turn, `--bank-demos`) and SFT on them: the
//                   Memory-SFT baseline. Shared by every seed.
//   5. RL memory manager, per seed: `memr1 launch` (the distributed job) with
//                   actor.train_agent memory_manager, the answer agent frozen at the warm start
//   6. RL answer agent, per seed: `memr1 launch` with the manager fixed at stage 5's policy
//   7. eval         `memr1 eval` on the test split: add_only and the warm start (once, both
//                   deterministic), the RL-trained agents per seed; <output_dir>/report.md
//                   (mean and min-max over seeds per category) and reward / KL curves
//                   (`memr1 plot --band`) in <output_dir>/plots/.
//
// Caching: every stage (and every seed's stage) has a fingerprint: a SHA-256 over the config
// fields it reads, the quickstart options it uses and its upstream stages' fingerprints. After
// success the fingerprint is written to <stage dir>/.done; a stage whose stamp equals its
// fingerprint is skipped ("cached"); any other stage directory (half finished, or made from other
// inputs) is deleted and the stage is run again. The report and plots are always redrawn.
//
// Determinism: every child is seeded (the config's `seed` for stages 1-4, the run's seed for
// 5-6; evaluation is greedy), so a seed gives the same artefacts on CPU.
//
// Errors name the stage and the child and carry the last lines of the child's log.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/shutdown.h"

namespace memr1::job {

struct QuickstartOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set path=value; in the config every child reads
  std::vector<uint64_t> seeds = {1, 2, 3};  // RL seeds (stages 5-7)
  // The memr1 binary the children run (empty: this process's own executable).
  std::string memr1_binary;

  // The tiny model built from scratch (stages 2-3).
  int vocab_size = 1024;
  int hidden_size = 128;
  int intermediate_size = 384;
  int num_layers = 4;
  int num_heads = 4;
  int num_kv_heads = 2;
  int pretrain_epochs = 20;
  int pretrain_seq_len = 256;
  double pretrain_lr = 3e-3;
  // Warm start (stage 4): the answer agent's teacher episodes (the manager gets every
  // bank-building turn of the train split plus a tenth as many episodes), SFT epochs and
  // learning rate.
  int demo_episodes = 640;
  int sft_epochs = 4;
  double sft_lr = 1e-3;
  // RL learning rates (stages 5 and 6; learner.actor_lr of each stage's job). One job config
  // cannot give the two stages different rates; docs/quickstart.md has the ones tried.
  double manager_lr = 5e-5;
  double answer_lr = 1e-4;

  std::ostream* out = nullptr;  // progress and children's output; null: std::cout

  absl::Status Validate() const;
};

// Runs (or resumes, skipping cached stages) the quickstart. Blocks until done, a stage fails
// (the error names it and shows its log's tail) or `shutdown` (not owned, may be null) is
// requested, in which case the running child is stopped and Cancelled is returned.
absl::Status RunQuickstart(const QuickstartOptions& options, ShutdownSignal* shutdown);

}  // namespace memr1::job
