// `memr1 learner offline`: PPO/GRPO/RLOO updates from stored trajectories, or supervised
// training (learner.algorithm sft) on demonstrations or on packed pretraining text, with JSONL
// metrics and checkpoints. Run directly for one rank, or under mpirun/srun for data-parallel
// ranks.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"
#include "learner/checkpoint.h"
#include "learner/communicator.h"
#include "learner/sft_data.h"
#include "learner/trainer.h"
#include "learner/trajectory_io.h"
#include "llm/tokenizer.h"

namespace memr1::cli {

namespace {

namespace fs = std::filesystem;

struct OfflineFlags {
  ConfigFlags config;
  std::string trajectories;
  std::string text;
  int64_t seq_len = 0;  // 0: the config's max prompt + response, capped by the model
  int steps = 0;
  int epochs = 0;
  bool resume = false;
};

// The number of processes the launcher started (1 when run directly). Read from the variables
// mpirun and srun define; not a memr1 knob.
int LaunchedProcesses() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  }
  return 1;
}

// Tokenizes the documents of `flags.text` with the job's tokenizer (tokenizer.path, else the
// model directory) and packs them into SFT trajectories (learner/sft_data.h).
absl::StatusOr<std::vector<v1::Trajectory>> LoadPackedText(const v1::JobConfig& job,
                                                           const OfflineFlags& flags,
                                                           int64_t max_positions, bool leader) {
  const std::string source =
      job.tokenizer().path().empty() ? job.model().path() : job.tokenizer().path();
  MEMR1_ASSIGN_OR_RETURN(const std::unique_ptr<llm::Tokenizer> tokenizer,
                         llm::Tokenizer::Load(source));
  learner::PackOptions options;
  options.max_tokens =
      flags.seq_len > 0 ? flags.seq_len
                        : std::min<int64_t>(job.actor().sampling().max_prompt_tokens() +
                                                job.actor().sampling().max_response_tokens(),
                                            max_positions);
  if (options.max_tokens > max_positions) {
    return absl::InvalidArgumentError(absl::StrCat("--seq-len ", options.max_tokens,
                                                   " exceeds the model's max_position_embeddings ",
                                                   max_positions));
  }
  if (!tokenizer->eos_id().has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer at ", source,
        " has no eos_token (tokenizer_config.json): --text needs one between documents"));
  }
  options.eos_id = *tokenizer->eos_id();
  options.bos_id = tokenizer->bos_id().value_or(-1);
  MEMR1_ASSIGN_OR_RETURN(const std::vector<learner::TextDocument> documents,
                         learner::ReadTextJsonl(flags.text));
  std::vector<std::string> texts;
  texts.reserve(documents.size());
  for (const auto& d : documents) texts.push_back(d.text);
  absl::StatusOr<std::vector<std::vector<int32_t>>> ids =
      tokenizer->EncodeBatch(texts, /*add_special_tokens=*/false, job.tokenizer().encode_threads());
  if (!ids.ok()) {
    // Encode one by one to name the line of the first failure.
    for (const auto& d : documents) {
      const auto one = tokenizer->Encode(d.text, false);
      if (!one.ok()) return Annotate(one.status(), d.where);
    }
    return ids.status();
  }
  MEMR1_ASSIGN_OR_RETURN(std::vector<v1::Trajectory> packed,
                         learner::PackDocuments(*ids, options));
  if (leader) {
    int64_t tokens = 0;
    for (const auto& document : *ids) tokens += static_cast<int64_t>(document.size());
    std::cout << "text: " << documents.size() << " documents, " << tokens << " tokens -> "
              << packed.size() << " sequences of at most " << options.max_tokens << " tokens\n";
  }
  return packed;
}

absl::Status RunOffline(const OfflineFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(v1::JobConfig job,
                         LoadJobConfig(flags.config.path, flags.config.overrides));
  const v1::LearnerConfig& l = job.learner();
  const bool sft = l.algorithm() == v1::LearnerConfig::SFT;
  if (flags.trajectories.empty() == flags.text.empty()) {
    return absl::InvalidArgumentError("give exactly one of --trajectories and --text");
  }
  if (!flags.text.empty() && !sft) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--text trains a language model, which is learner.algorithm sft; the config has ",
        v1::LearnerConfig::Algorithm_Name(l.algorithm()), " (add --set learner.algorithm=sft)"));
  }
  if ((flags.steps > 0) == (flags.epochs > 0)) {
    return absl::InvalidArgumentError("give exactly one of --steps and --epochs");
  }
  const int processes = LaunchedProcesses();
  if (processes != l.num_ranks()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.num_ranks is ", l.num_ranks(), " but ", processes,
        " process(es) were launched (run with mpirun -np ", l.num_ranks(),
        ", or --set learner.num_ranks=", processes, ")"));
  }
  const std::string kind =
      processes == 1 ? "single" : (l.communicator() == v1::LearnerConfig::NCCL ? "nccl" : "mpi");
  MEMR1_ASSIGN_OR_RETURN(auto comm, learner::MakeCommunicator(kind));
  const bool leader = comm->rank() == 0;

  MEMR1_ASSIGN_OR_RETURN(learner::TrainerModels models, learner::LoadTrainerModels(job));
  const int64_t vocab = models.policy->config().vocab_size;
  std::vector<v1::Trajectory> data;
  if (!flags.text.empty()) {
    MEMR1_ASSIGN_OR_RETURN(
        data, LoadPackedText(job, flags, models.policy->config().max_position_embeddings, leader));
  } else {
    MEMR1_ASSIGN_OR_RETURN(
        data, learner::ReadTrajectoriesJsonl(flags.trajectories, vocab,
                                             sft ? learner::BehaviourLogprobs::kOptional
                                                 : learner::BehaviourLogprobs::kRequired));
  }
  const std::string& input = flags.text.empty() ? flags.trajectories : flags.text;
  if (data.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(input, " holds no trajectories"));
  }
  const int64_t examples = static_cast<int64_t>(data.size());
  const int64_t batch = l.global_batch_size();
  // --epochs E: ceil(E x examples / batch) steps, and the LR schedule spans them.
  const int64_t target =
      flags.steps > 0 ? flags.steps : (flags.epochs * examples + batch - 1) / batch;
  if (flags.epochs > 0) job.mutable_learner()->set_total_steps(static_cast<int32_t>(target));
  MEMR1_ASSIGN_OR_RETURN(auto trainer,
                         learner::Trainer::Create(job, std::move(models), comm.get()));

  const fs::path output(job.output_dir());
  learner::CheckpointManager checkpoints((output / "checkpoints").string(), comm.get());
  // Position in the stream of epochs (example order: learner/sft_data.h EpochOrder). SFT
  // examples are independent and shuffled per epoch (seeded by the job seed); RL keeps the
  // file order, since GRPO groups are stored contiguously and must stay whole.
  int64_t cursor = 0;
  if (flags.resume) {
    auto latest = checkpoints.LoadLatest();
    if (latest.ok()) {
      MEMR1_ASSIGN_OR_RETURN(const std::string state, trainer->Restore(*latest));
      const nlohmann::json json = nlohmann::json::parse(state, nullptr, false);
      cursor = json.value("cursor", int64_t{0});
      const int64_t trained_on = json.value("examples", examples);
      if (trained_on != examples) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the checkpoint in ", checkpoints.root(), " was trained on ", trained_on,
            " examples, ", input, " gives ", examples,
            " (resume with the same data, and for --text the same --seq-len)"));
      }
      if (leader) std::cout << "resumed from step " << trainer->steps() << "\n";
    } else if (latest.status().code() != absl::StatusCode::kNotFound) {
      return latest.status();
    }
  }
  learner::EpochOrder order(examples, job.seed(), /*shuffle=*/sft);
  std::error_code ec;
  fs::create_directories(output, ec);
  std::ofstream metrics;
  if (leader) {
    metrics.open(output / "metrics.jsonl", std::ios::app);
    if (!metrics) return absl::PermissionDeniedError(
          absl::StrCat("cannot write ", (output / "metrics.jsonl").string()));
    std::cout << "learner " << v1::LearnerConfig::Algorithm_Name(l.algorithm()) << ": "
              << examples << (flags.text.empty() ? " trajectories" : " sequences") << ", "
              << comm->world_size() << " rank(s) over " << comm->name() << ", steps "
              << trainer->steps() << " -> " << target << "\n";
  }
  const std::string config_yaml = MessageToYaml(job);
  auto save = [&]() -> absl::Status {
    const std::string state = nlohmann::json{{"cursor", cursor}, {"examples", examples}}.dump();
    MEMR1_ASSIGN_OR_RETURN(const std::string dir, trainer->Save(checkpoints, config_yaml, state));
    if (leader) std::cout << "checkpoint " << dir << "\n";
    return absl::OkStatus();
  };
  while (trainer->steps() < target) {
    std::vector<v1::Trajectory> global;
    global.reserve(batch);
    for (int64_t i = 0; i < batch; ++i) global.push_back(data[order.Index(cursor + i)]);
    cursor += batch;
    MEMR1_ASSIGN_OR_RETURN(const learner::StepMetrics m, trainer->Step(global));
    if (leader) {
      metrics << m.ToJson() << "\n";
      metrics.flush();
      if (m.supervised) {
        std::cout << absl::StrFormat(
            "step %d/%d epoch %.2f sft loss %.4f token accuracy %.3f grad_norm %.3g lr %.3g "
            "%.0f tokens/s\n",
            m.step, target, static_cast<double>(cursor) / examples, m.loss, m.token_accuracy,
            m.grad_norm, m.lr, m.tokens_per_second);
      } else {
        std::cout << absl::StrFormat(
            "step %d/%d loss %.4f reward %.3f kl %.4g entropy %.3f clip %.3f grad_norm %.3g "
            "lr %.3g %.0f tokens/s\n",
            m.step, target, m.loss, m.reward_mean, m.kl, m.entropy, m.clip_fraction,
            m.grad_norm, m.lr, m.tokens_per_second);
      }
    }
    const bool periodic = l.checkpoint_every() > 0 && m.step % l.checkpoint_every() == 0;
    if (periodic || m.step == target) MEMR1_RETURN_IF_ERROR(save());
  }
  return absl::OkStatus();
}

void RegisterLearnerCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* learner =
      app.add_subcommand("learner", "Train the policy: PPO, GRPO, RLOO or supervised (SFT)");
  learner->require_subcommand(1);
  auto flags = std::make_shared<OfflineFlags>();
  CLI::App* offline = learner->add_subcommand(
      "offline",
      "Train from stored trajectories (JSON lines) with the configured learner.algorithm, or a "
      "language model on text (--text, learner.algorithm sft); metrics go to "
      "<output_dir>/metrics.jsonl, checkpoints to <output_dir>/checkpoints");
  AddConfigFlags(offline, &flags->config);
  CLI::Option* trajectories =
      offline->add_option("--trajectories", flags->trajectories, "Trajectory JSON-lines file")
          ->check(CLI::ExistingFile);
  CLI::Option* text =
      offline
          ->add_option("--text", flags->text,
                       "Pretraining text, JSON lines {\"text\": ...}: tokenized with the model's "
                       "tokenizer, EOS after each document, packed into sequences (sft only)")
          ->check(CLI::ExistingFile)
          ->excludes(trajectories);
  offline
      ->add_option("--seq-len", flags->seq_len,
                   "Tokens per packed --text sequence (default: actor.sampling max prompt + "
                   "response tokens, at most the model's max_position_embeddings)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30))
      ->needs(text);
  CLI::Option* steps =
      offline->add_option("--steps", flags->steps, "Train until this many steps are done")
          ->check(CLI::PositiveNumber);
  offline
      ->add_option("--epochs", flags->epochs,
                   "Train ceil(E x examples / global batch) steps (sets learner.total_steps, the "
                   "LR schedule's length); SFT data is reshuffled every epoch, seeded by seed")
      ->check(CLI::PositiveNumber)
      ->excludes(steps);
  offline->add_flag("--resume", flags->resume,
                    "Continue from the latest checkpoint in <output_dir>/checkpoints, if any");
  runner.Bind(offline, [flags]() { return RunOffline(*flags); });
}

const CommandRegistration kRegistration(70, RegisterLearnerCommands);

}  // namespace
}  // namespace memr1::cli
