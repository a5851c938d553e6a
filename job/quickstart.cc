#include "job/quickstart.h"

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "actor/dataset.h"
#include "actor/prompts.h"
#include "actor/teacher_grammar.h"
#include "actor/turns.h"
#include "common/child_process.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "eval/paired.h"
#include "google/protobuf/text_format.h"
#include "memr1/v1/config.pb.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kStages = 7;
constexpr size_t kTailLines = 30;

absl::StatusOr<std::string> SelfExecutable() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return absl::InternalError("cannot resolve /proc/self/exe");
  return std::string(buffer, static_cast<size_t>(n));
}

std::string ProtoText(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.PrintToString(message, &text);
  return text;
}

// The layout of stage 1's corpus and LM documents (ConversationDocument): raise it when they
// change, so that a cached output dir redoes stage 1 and everything after it.
constexpr char kDataFormat[] = "2";

// A fingerprint: SHA-256 over named parts, each length-prefixed so parts cannot run together.
class Fingerprint {
 public:
  explicit Fingerprint(const std::string& stage) { Add("stage", stage); }
  Fingerprint& Add(const std::string& name, const std::string& value) {
    absl::StrAppend(&text_, name.size(), ":", name, "=", value.size(), ":", value, "\n");
    return *this;
  }
  Fingerprint& Add(const std::string& name, const google::protobuf::Message& message) {
    return Add(name, ProtoText(message));
  }
  std::string Hex() const { return Sha256Hex(text_); }

 private:
  std::string text_;
};

std::string PolicyDir(const fs::path& run_dir) {
  std::ifstream in(run_dir / "checkpoints" / "LATEST");
  std::string name;
  std::getline(in, name);
  if (name.empty()) return "";
  return (run_dir / "checkpoints" / name / "policy").string();
}

struct Scores {
  // category name -> metric -> value; and counts.
  std::map<std::string, std::map<std::string, double>> metrics;
  std::map<std::string, int64_t> counts;
  std::vector<std::string> order;  // category names in report order
};

absl::StatusOr<Scores> ReadReport(const fs::path& path) {
  MEMR1_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  json rows = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!rows.is_array()) return absl::DataLossError(absl::StrCat(path.string(), ": not a JSON array"));
  Scores scores;
  for (const json& row : rows) {
    if (!row.is_object() || !row.contains("name") || !row.contains("count")) {
      return absl::DataLossError(absl::StrCat(path.string(), ": a row without name/count"));
    }
    const std::string name = row["name"].get<std::string>();
    scores.order.push_back(name);
    scores.counts[name] = row["count"].get<int64_t>();
    for (const char* key : {"f1", "bleu1", "em"}) {
      if (row.contains(key) && row[key].is_number()) scores.metrics[name][key] = row[key].get<double>();
    }
  }
  return scores;
}

class Quickstart {
 public:
  Quickstart(const QuickstartOptions& options, ShutdownSignal* shutdown)
      : options_(options),
        shutdown_(shutdown),
        out_(options.out != nullptr ? options.out : &std::cout),
        sink_(out_) {}

  absl::Status Run();

 private:
  // One stage (or one seed's part of a stage): its directory and fingerprint.
  struct Step {
    int number;
    std::string title;
    fs::path dir;
    std::string fingerprint;
  };

  void Say(const std::string& line) {
    sink_.Write("quickstart", line);
  }
  // True (and says so) when `step` finished before with the same fingerprint; otherwise clears
  // its directory and announces it.
  absl::StatusOr<bool> Begin(const Step& step);
  absl::Status Finish(const Step& step);
  // Runs `memr1 args...` as child `name` of `step`; an error names the stage and shows the tail.
  absl::Status RunChild(const Step& step, const std::string& name, std::vector<std::string> args);
  // args for a child that reads the job config: --config with the snapshot, then `sets`.
  std::vector<std::string> ConfigArgs(const std::vector<std::string>& sets) const;

  // The fixed text of the prompts and replies the agents will see (tokenizer corpus).
  std::vector<std::string> PromptTexts() const;
  absl::Status Data();
  absl::Status Tokenizer();
  absl::Status Pretrain();
  absl::Status WarmStart();
  absl::Status RlStage(int number, uint64_t seed, bool memory_manager);
  absl::Status Eval();
  absl::Status Report();
  // The report's paired comparison of the RL agents with the warm start, from the evaluations'
  // per-question scores (eval/paired.h).
  absl::StatusOr<std::string> PairedSection() const;

  const QuickstartOptions& options_;
  ShutdownSignal* shutdown_;
  std::ostream* out_;
  LogSink sink_;
  std::string binary_;
  v1::JobConfig config_;
  fs::path root_;
  // The job config every child reads: the file given with the overrides applied, written into
  // root_ at the start, so that editing the file during a run cannot change the stages to come.
  fs::path config_snapshot_;
  absl::Time start_ = absl::Now();
  std::map<std::string, double> seconds_;  // per stage title

  // Outputs and fingerprints of the stages, for the ones downstream.
  std::string data_fp_, tokenizer_fp_, pretrain_fp_, warm_fp_;
  fs::path world_, corpus_, text_, tokenizer_dir_, pretrain_policy_, warm_policy_;
  std::map<uint64_t, std::string> mm_fp_, aa_fp_;
  std::map<uint64_t, fs::path> mm_policy_, aa_policy_;
};

std::vector<std::string> Quickstart::ConfigArgs(const std::vector<std::string>& sets) const {
  std::vector<std::string> args = {"--config", config_snapshot_.string()};
  for (const std::string& set : sets) {
    args.push_back("--set");
    args.push_back(set);
  }
  return args;
}

absl::StatusOr<bool> Quickstart::Begin(const Step& step) {
  const std::string prefix = absl::StrCat("stage ", step.number, "/", kStages, ": ", step.title);
  auto stamp = ReadFileToString((step.dir / ".done").string());
  if (stamp.ok() && std::string(absl::StripAsciiWhitespace(*stamp)) == step.fingerprint) {
    Say(absl::StrCat(prefix, ": cached (fingerprint ", step.fingerprint.substr(0, 12),
                     "), skipped"));
    return true;
  }
  std::error_code error;
  fs::remove_all(step.dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat(prefix, ": cannot clear ", step.dir.string(), ": ",
                                            error.message()));
  }
  fs::create_directories(step.dir / "logs", error);
  if (error) {
    return absl::InternalError(absl::StrCat(prefix, ": cannot create ", step.dir.string(), ": ",
                                            error.message()));
  }
  Say(absl::StrCat(prefix, " -> ", step.dir.string()));
  return false;
}

absl::Status Quickstart::Finish(const Step& step) {
  return WriteFileAtomically((step.dir / ".done").string(), step.fingerprint + "\n");
}

absl::Status Quickstart::RunChild(const Step& step, const std::string& name,
                                  std::vector<std::string> args) {
  if (shutdown_ != nullptr && shutdown_->requested()) {
    return absl::CancelledError("quickstart interrupted");
  }
  ChildOptions child;
  child.name = name;
  child.argv = {binary_};
  child.argv.insert(child.argv.end(), args.begin(), args.end());
  const std::string log = (step.dir / "logs" / (name + ".log")).string();
  MEMR1_RETURN_IF_ERROR(sink_.AddFile(name, log));
  const absl::Time started = absl::Now();
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> process, ChildProcess::Start(child, &sink_));
  std::optional<int> code;
  while (!(code = process->Wait(absl::Milliseconds(250))).has_value()) {
    if (shutdown_ != nullptr && shutdown_->requested()) {
      process->Stop();
      return absl::CancelledError(absl::StrCat("quickstart interrupted in stage ", step.number,
                                               " (", step.title, "), child ", name,
                                               " stopped; a rerun redoes this stage"));
    }
  }
  seconds_[step.title] += absl::ToDoubleSeconds(absl::Now() - started);
  if (*code != 0) {
    return absl::InternalError(absl::StrCat(
        "stage ", step.number, "/", kStages, " (", step.title, ") failed: `memr1 ",
        absl::StrJoin(args, " "), "` exited with code ", *code, "; the last lines of ", log,
        ":\n", absl::StrJoin(sink_.Tail(name, kTailLines), "\n")));
  }
  return absl::OkStatus();
}

// One LM document per train conversation, in the order the agents meet it: each session's time,
// then its dialogue, each turn followed by what the teacher writes about it (the dated fact and
// the memory text of that person's slot, copied from the turn and the session time); then the
// final memories as the answer agent sees them ("[time] text") and the questions with their
// answers. So pretraining teaches copying from context (a name, a city, the day of a date),
// which both agents need and which a text of dialogue alone never asks for. The tokenizer is
// trained on it too, so a date is a few tokens, not a dozen.
std::string ConversationDocument(const actor::Conversation& conversation) {
  namespace teacher = actor::teacher;
  std::string document;
  std::map<std::pair<std::string, teacher::Slot>, teacher::SlotHistory> histories;
  std::map<std::pair<std::string, teacher::Slot>, std::string> updated_at;  // session time
  int session = -1;
  for (const actor::TurnContext& turn : actor::FlattenTurns(conversation)) {
    if (turn.session != session) {
      session = turn.session;
      absl::StrAppend(&document, turn.session_time, "\n");
    }
    absl::StrAppend(&document, turn.speaker, ": ", turn.text, "\n");
    for (teacher::Statement statement : teacher::ParseStatements(turn.text, turn.speaker)) {
      if (statement.kind != teacher::Statement::Kind::kState && statement.date.empty()) {
        statement.date = teacher::DayOf(turn.session_time);
      }
      const std::pair<std::string, teacher::Slot> key{statement.person, statement.slot};
      teacher::SlotHistory& history = histories[key];
      history.person = statement.person;
      history.slot = statement.slot;
      absl::StrAppend(&document, teacher::RenderFact(statement), "\n");
      history.Apply(statement);
      absl::StrAppend(&document, teacher::RenderMemory(history), "\n");
      updated_at[key] = turn.session_time;
    }
  }
  absl::StrAppend(&document, "Memories:\n");
  for (const auto& [key, history] : histories) {
    absl::StrAppend(&document, "[", updated_at.at(key), "] ", teacher::RenderMemory(history),
                    "\n");
  }
  for (const actor::QaItem& qa : conversation.qa) {
    absl::StrAppend(&document, "Question: ", qa.question, "\n**Answer:** ", qa.answer, "\n");
  }
  return document;
}

absl::Status Quickstart::Data() {
  const v1::SyntheticWorldConfig& world = config_.data().synthetic();
  Step step{1, "data", root_ / "data",
            Fingerprint("data").Add("format", kDataFormat).Add("synthetic", world)
                .Add("train", std::to_string(config_.data().train_conversations()))
                .Add("prompts", absl::StrJoin(PromptTexts(), "\n"))
                .Hex()};
  data_fp_ = step.fingerprint;
  world_ = step.dir / "world.json";
  corpus_ = step.dir / "corpus.txt";
  text_ = step.dir / "pretrain.jsonl";
  MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
  if (cached) return absl::OkStatus();
  MEMR1_RETURN_IF_ERROR(RunChild(
      step, "data-synth",
      {"data", "synth", "--seed", std::to_string(world.seed()), "--conversations",
       std::to_string(world.conversations()), "--sessions",
       std::to_string(world.sessions_per_conversation()), "--turns",
       std::to_string(world.turns_per_session()), "--questions",
       std::to_string(world.questions_per_conversation()), "--fact-probability",
       absl::StrFormat("%.17g", world.fact_probability()), "--output", world_.string()}));
  // The train split's dialogue only: the test conversations stay unseen until evaluation.
  MEMR1_ASSIGN_OR_RETURN(actor::Dataset dataset,
                         actor::LoadDataset(actor::DatasetKind::kSynthetic, world_.string()));
  const int train = config_.data().train_conversations();
  if (train < 1 || static_cast<size_t>(train) > dataset.conversations.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stage 1 (data): data.train_conversations is ", train, " but the world has ",
        dataset.conversations.size(), " conversations (data.synthetic.conversations)"));
  }
  std::string corpus, text;
  for (int c = 0; c < train; ++c) {
    const std::string document = ConversationDocument(dataset.conversations[c]);
    absl::StrAppend(&corpus, document);
    text += json({{"text", document}}).dump() + "\n";
  }
  // The prompts' fixed text is most of every prompt: with it in the corpus the tokenizer gives
  // it merges, and prompts take far fewer tokens (about 40% fewer at 1,024 ids). Repeated so
  // that its pairs pass the trainer's minimum frequency.
  for (const std::string& prompt : PromptTexts()) {
    for (int i = 0; i < 4; ++i) {
      for (absl::string_view line : absl::StrSplit(prompt, '\n', absl::SkipEmpty())) {
        absl::StrAppend(&corpus, line, "\n");
      }
    }
  }
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically(corpus_.string(), corpus));
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically(text_.string(), text));
  return Finish(step);
}

std::vector<std::string> Quickstart::PromptTexts() const {
  const v1::ActorConfig& actor = config_.actor();
  auto chosen = [](const std::string& configured, std::string_view fallback) {
    return configured.empty() ? std::string(fallback) : configured;
  };
  return {chosen(actor.memory_manager().extraction_prompt(), actor::DefaultExtractionPrompt()),
          chosen(actor.memory_manager().manager_prompt(), actor::DefaultManagerPrompt()),
          chosen(actor.answer_agent().answer_prompt(), actor::DefaultAnswerPrompt()),
          // The Qwen-2.5 chat template's default system message, and the two JSON replies.
          "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
          R"({"memory":[{"id":"0","text":"","event":"UPDATE","old_memory":""}]})",
          R"({"facts":[]} {"memory":[]} **Answer:**)"};
}

absl::Status Quickstart::Tokenizer() {
  Step step{2, "tokenizer", root_ / "tokenizer",
            Fingerprint("tokenizer").Add("data", data_fp_)
                .Add("vocab", std::to_string(options_.vocab_size))
                .Hex()};
  tokenizer_fp_ = step.fingerprint;
  tokenizer_dir_ = step.dir / "tokenizer";
  MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
  if (cached) return absl::OkStatus();
  MEMR1_RETURN_IF_ERROR(RunChild(step, "tokenizer-train",
                                 {"tokenizer", "train", "--input", corpus_.string(),
                                  "--vocab-size", std::to_string(options_.vocab_size),
                                  "--output", tokenizer_dir_.string()}));
  return Finish(step);
}

absl::Status Quickstart::Pretrain() {
  const std::string knobs = absl::StrCat(
      options_.hidden_size, ",", options_.intermediate_size, ",", options_.num_layers, ",",
      options_.num_heads, ",", options_.num_kv_heads, ",", options_.pretrain_epochs, ",",
      options_.pretrain_seq_len, ",", absl::StrFormat("%.17g", options_.pretrain_lr));
  Step step{3, "pretrain", root_ / "pretrain",
            Fingerprint("pretrain").Add("tokenizer", tokenizer_fp_).Add("options", knobs)
                .Add("seed", std::to_string(config_.seed()))
                .Add("model", config_.model())
                .Hex()};
  pretrain_fp_ = step.fingerprint;
  const fs::path train_dir = step.dir / "train";
  MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
  if (!cached) {
    // The model's vocabulary is the tokenizer's (fewer ids than asked when merges run out).
    MEMR1_ASSIGN_OR_RETURN(std::string tokenizer_text,
                           ReadFileToString((tokenizer_dir_ / "tokenizer.json").string()));
    const json tokenizer = json::parse(tokenizer_text, nullptr, false);
    if (!tokenizer.is_object() || !tokenizer.contains("model")) {
      return absl::DataLossError(absl::StrCat("stage 3 (pretrain): ", tokenizer_dir_.string(),
                                              "/tokenizer.json is not a tokenizer"));
    }
    int64_t vocab = static_cast<int64_t>(tokenizer["model"]["vocab"].size());
    int64_t eos = -1;
    for (const json& added : tokenizer.value("added_tokens", json::array())) {
      vocab = std::max<int64_t>(vocab, added["id"].get<int64_t>() + 1);
      if (added["content"] == "<|im_end|>") eos = added["id"].get<int64_t>();
    }
    if (eos < 0) {
      return absl::DataLossError("stage 3 (pretrain): the tokenizer has no <|im_end|> token");
    }
    const json model_config = {
        {"vocab_size", vocab},
        {"hidden_size", options_.hidden_size},
        {"intermediate_size", options_.intermediate_size},
        {"num_hidden_layers", options_.num_layers},
        {"num_attention_heads", options_.num_heads},
        {"num_key_value_heads", options_.num_kv_heads},
        {"head_dim", options_.hidden_size / options_.num_heads},
        {"max_position_embeddings", 4096},
        {"eos_token_id", eos},
        {"tie_word_embeddings", true}};
    const fs::path init = step.dir / "init";
    MEMR1_RETURN_IF_ERROR(
        WriteFileAtomically((step.dir / "model.json").string(), model_config.dump(2) + "\n"));
    MEMR1_RETURN_IF_ERROR(RunChild(
        step, "model-init",
        {"model", "init", "--arch", "qwen2", "--config", (step.dir / "model.json").string(),
         "--seed", std::to_string(config_.seed()), "--output", init.string()}));
    for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
      std::error_code error;
      fs::copy_file(tokenizer_dir_ / file, init / file, fs::copy_options::overwrite_existing,
                    error);
      if (error) {
        return absl::InternalError(absl::StrCat("stage 3 (pretrain): copying ", file, ": ",
                                                error.message()));
      }
    }
    std::vector<std::string> args = {"learner", "offline"};
    for (const std::string& arg : ConfigArgs(
             {"output_dir=" + train_dir.string(), "model.path=" + init.string(),
              "tokenizer.path=" + tokenizer_dir_.string(), "learner.algorithm=sft",
              "learner.num_ranks=1", "learner.global_batch_size=8",
              "learner.micro_batch_size=4",
              absl::StrFormat("learner.actor_lr=%.17g", options_.pretrain_lr),
              "learner.lr_schedule=cosine",
              absl::StrCat("learner.warmup_steps=", std::min(5, options_.pretrain_epochs)),
              "learner.kl_coef=0",
              "learner.total_steps=1000000", "learner.checkpoint_every=1000000"})) {
      args.push_back(arg);
    }
    for (const std::string& arg :
         {std::string("--text"), text_.string(), std::string("--seq-len"),
          std::to_string(options_.pretrain_seq_len), std::string("--epochs"),
          std::to_string(options_.pretrain_epochs)}) {
      args.push_back(arg);
    }
    MEMR1_RETURN_IF_ERROR(RunChild(step, "pretrain", args));
  }
  pretrain_policy_ = PolicyDir(train_dir);
  if (pretrain_policy_.empty()) {
    return absl::DataLossError(absl::StrCat("stage 3 (pretrain): no checkpoint in ",
                                            train_dir.string(), "/checkpoints"));
  }
  return cached ? absl::OkStatus() : Finish(step);
}

// The actor settings the teacher's demonstrations depend on: the RL-only ones (reward, sampling
// temperature and group, actors, trained agent, the agents' policies) are cleared, so changing
// them redoes the RL stages but keeps the warm start.
v1::ActorConfig DemonstrationFields(v1::ActorConfig actor) {
  actor.clear_num_actors();
  actor.clear_train_agent();
  actor.clear_eval_temperature();
  actor.clear_reward();
  actor.clear_format_reward();
  v1::SamplingConfig* sampling = actor.mutable_sampling();
  sampling->clear_temperature();
  sampling->clear_top_p();
  sampling->clear_top_k();
  sampling->clear_group_size();
  // The teacher answers for both agents; their policies are the RL stages'.
  actor.mutable_memory_manager()->clear_policy();
  actor.mutable_answer_agent()->clear_policy();
  return actor;
}

absl::Status Quickstart::WarmStart() {
  const std::string knobs = absl::StrCat(options_.demo_episodes, ",", options_.sft_epochs, ",",
                                         absl::StrFormat("%.17g", options_.sft_lr));
  Step step{4, "warm start (teacher demonstrations + SFT)", root_ / "warmstart",
            Fingerprint("warmstart").Add("pretrain", pretrain_fp_).Add("options", knobs)
                .Add("seed", std::to_string(config_.seed()))
                .Add("actor", DemonstrationFields(config_.actor()))
                .Add("data", config_.data())
                .Hex()};
  warm_fp_ = step.fingerprint;
  const fs::path train_dir = step.dir / "train";
  MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
  if (!cached) {
    const std::vector<std::string> common = {
        "model.path=" + pretrain_policy_.string(), "tokenizer.path=" + tokenizer_dir_.string(),
        "data.path=" + world_.string(), "data.dataset=synthetic",
        "actor.memory_manager.policy.backend=teacher", "actor.answer_agent.policy.backend=teacher",
        "actor.sampling.group_size=1", "learner.algorithm=sft"};
    std::string demos;
    for (const std::string agent : {"memory_manager", "answer_agent"}) {
      std::vector<std::string> sets = common;
      sets.push_back("actor.train_agent=" + agent);
      sets.push_back("output_dir=" + (step.dir / ("rollout-" + agent)).string());
      const fs::path file = step.dir / ("demos-" + agent + ".jsonl");
      // The manager is shown every decision of bank building (every turn of the train split:
      // the ones that change nothing too), plus a tenth as many episodes as the answer agent
      // (turns that are a question's last evidence: repeats of bank-building decisions, so
      // those weigh a little more; their mean reward checks the teacher).
      const bool manager = agent == "memory_manager";
      const int episodes = manager ? std::max(4, options_.demo_episodes / 10)
                                   : options_.demo_episodes;
      std::vector<std::string> args = {"rollout"};
      for (const std::string& arg : ConfigArgs(sets)) args.push_back(arg);
      for (const std::string& arg : {std::string("--episodes"), std::to_string(episodes),
                                     std::string("--output"), file.string()}) {
        args.push_back(arg);
      }
      if (manager) args.push_back("--bank-demos");
      MEMR1_RETURN_IF_ERROR(RunChild(step, "teacher-" + agent, args));
      MEMR1_ASSIGN_OR_RETURN(std::string lines, ReadFileToString(file.string()));
      demos += lines;
    }
    const fs::path all = step.dir / "demos.jsonl";
    MEMR1_RETURN_IF_ERROR(WriteFileAtomically(all.string(), demos));
    std::vector<std::string> args = {"learner", "offline"};
    for (const std::string& arg : ConfigArgs(
             {"output_dir=" + train_dir.string(), "model.path=" + pretrain_policy_.string(),
              "tokenizer.path=" + tokenizer_dir_.string(), "learner.algorithm=sft",
              "learner.num_ranks=1", "learner.global_batch_size=16",
              "learner.micro_batch_size=8",
              absl::StrFormat("learner.actor_lr=%.17g", options_.sft_lr),
              "learner.lr_schedule=cosine",
              absl::StrCat("learner.warmup_steps=", std::min(5, options_.sft_epochs)),
              "learner.kl_coef=0",
              "learner.total_steps=1000000", "learner.checkpoint_every=1000000"})) {
      args.push_back(arg);
    }
    for (const std::string& arg : {std::string("--trajectories"), all.string(),
                                   std::string("--epochs"), std::to_string(options_.sft_epochs)}) {
      args.push_back(arg);
    }
    MEMR1_RETURN_IF_ERROR(RunChild(step, "sft", args));
  }
  warm_policy_ = PolicyDir(train_dir);
  if (warm_policy_.empty()) {
    return absl::DataLossError(absl::StrCat("stage 4 (warm start): no checkpoint in ",
                                            train_dir.string(), "/checkpoints"));
  }
  return cached ? absl::OkStatus() : Finish(step);
}

absl::Status Quickstart::RlStage(int number, uint64_t seed, bool memory_manager) {
  const std::string agent = memory_manager ? "memory_manager" : "answer_agent";
  const std::string upstream = memory_manager ? warm_fp_ : mm_fp_[seed];
  // The stage's learner settings: the config's, with this stage's learning rate.
  v1::LearnerConfig learner = config_.learner();
  learner.set_actor_lr(memory_manager ? options_.manager_lr : options_.answer_lr);
  Fingerprint fingerprint(absl::StrCat("rl-", agent));
  fingerprint.Add("upstream", upstream).Add("seed", std::to_string(seed))
      .Add("actor", config_.actor()).Add("learner", learner)
      .Add("coordinator", config_.coordinator()).Add("memstore", config_.memstore())
      .Add("data", config_.data()).Add("model", config_.model());
  Step step{number,
            absl::StrCat("RL ", memory_manager ? "memory manager" : "answer agent", ", seed ",
                         seed),
            root_ / absl::StrCat("seed-", seed) / ("rl-" + agent), fingerprint.Hex()};
  (memory_manager ? mm_fp_ : aa_fp_)[seed] = step.fingerprint;
  MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
  const fs::path run = step.dir / "run";
  if (!cached) {
    std::vector<std::string> sets = {
        "seed=" + std::to_string(seed), "output_dir=" + run.string(),
        "model.path=" + warm_policy_.string(), "tokenizer.path=" + tokenizer_dir_.string(),
        "data.path=" + world_.string(), "data.dataset=synthetic", "actor.train_agent=" + agent,
        absl::StrFormat("learner.actor_lr=%.17g", learner.actor_lr())};
    if (memory_manager) {
      sets.push_back("actor.answer_agent.policy.model_path=" + warm_policy_.string());
    } else {
      sets.push_back("actor.memory_manager.policy.model_path=" + mm_policy_[seed].string());
    }
    std::vector<std::string> args = {"launch"};
    for (const std::string& arg : ConfigArgs(sets)) args.push_back(arg);
    MEMR1_RETURN_IF_ERROR(RunChild(step, absl::StrCat("rl-", agent, "-seed-", seed), args));
  }
  const std::string policy = PolicyDir(run);
  if (policy.empty()) {
    return absl::DataLossError(absl::StrCat("stage ", number, " (", step.title,
                                            "): no checkpoint in ", run.string(),
                                            "/checkpoints"));
  }
  (memory_manager ? mm_policy_ : aa_policy_)[seed] = policy;
  return cached ? absl::OkStatus() : Finish(step);
}

absl::Status Quickstart::Eval() {
  struct Job {
    std::string name;
    std::string pipeline;
    std::string upstream;
    fs::path dir;
    std::vector<std::string> sets;
  };
  std::vector<Job> jobs;
  jobs.push_back({"add_only", "add_only", warm_fp_, root_ / "eval" / "add-only",
                  {"model.path=" + warm_policy_.string()}});
  jobs.push_back({"warm start", "memory_r1", warm_fp_, root_ / "eval" / "warm-start",
                  {"model.path=" + warm_policy_.string()}});
  for (uint64_t seed : options_.seeds) {
    jobs.push_back({absl::StrCat("RL, seed ", seed), "memory_r1", aa_fp_[seed],
                    root_ / absl::StrCat("seed-", seed) / "eval",
                    {"model.path=" + warm_policy_.string(),
                     "actor.memory_manager.policy.model_path=" + mm_policy_[seed].string(),
                     "actor.answer_agent.policy.model_path=" + aa_policy_[seed].string()}});
  }
  for (Job& job : jobs) {
    Step step{7, "eval " + job.name, job.dir,
              Fingerprint("eval").Add("upstream", job.upstream).Add("pipeline", job.pipeline)
                  .Add("sets", absl::StrJoin(job.sets, ";"))
                  .Add("actor", config_.actor()).Add("eval", config_.eval())
                  .Add("data", config_.data()).Add("memstore", config_.memstore())
                  .Add("model", config_.model())
                  .Hex()};
    MEMR1_ASSIGN_OR_RETURN(bool cached, Begin(step));
    if (cached) continue;
    job.sets.push_back("output_dir=" + (step.dir / "work").string());
    job.sets.push_back("tokenizer.path=" + tokenizer_dir_.string());
    job.sets.push_back("data.path=" + world_.string());
    job.sets.push_back("data.dataset=synthetic");
    std::vector<std::string> args = {"eval"};
    for (const std::string& arg : ConfigArgs(job.sets)) args.push_back(arg);
    for (const std::string& arg : {std::string("--split"), std::string("test"),
                                   std::string("--pipeline"), job.pipeline,
                                   std::string("--output"), step.dir.string()}) {
      args.push_back(arg);
    }
    std::string child = "eval-" + job.name;
    std::replace_if(child.begin(), child.end(),
                    [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '-');
    MEMR1_RETURN_IF_ERROR(RunChild(step, child, args));
    MEMR1_RETURN_IF_ERROR(Finish(step));
  }
  return absl::OkStatus();
}

absl::Status Quickstart::Report() {
  Step step{7, "report and plots", root_ / "plots", ""};
  std::error_code error;
  fs::create_directories(step.dir / "logs", error);
  Say(absl::StrCat("stage 7/", kStages, ": report and plots -> ", (root_ / "report.md").string()));
  // Curves: reward and KL of each RL stage, mean and min-max band over the seeds.
  for (const std::string agent : {"memory_manager", "answer_agent"}) {
    for (const std::string key : {"reward_mean", "kl"}) {
      std::vector<std::string> args = {"plot"};
      for (uint64_t seed : options_.seeds) {
        args.push_back("--metrics");
        args.push_back((root_ / absl::StrCat("seed-", seed) / ("rl-" + agent) / "run" /
                        "metrics" / "learner.jsonl")
                           .string());
        args.push_back("--label");
        args.push_back(absl::StrCat("seed ", seed));
      }
      for (const std::string& arg :
           {std::string("--band"), std::string("--y"), key, std::string("--title"),
            absl::StrCat("RL ", agent, ": ", key, " (mean, min-max over ", options_.seeds.size(),
                         " seeds)"),
            std::string("--out"), (step.dir / (agent + "-" + key + ".png")).string()}) {
        args.push_back(arg);
      }
      MEMR1_RETURN_IF_ERROR(RunChild(step, "plot-" + agent + "-" + key, args));
    }
  }
  // The table: one row per (pipeline, category); RL rows are the mean and min-max over seeds.
  struct Row {
    std::string name;
    std::vector<Scores> runs;
  };
  std::vector<Row> rows;
  MEMR1_ASSIGN_OR_RETURN(Scores add_only, ReadReport(root_ / "eval" / "add-only" / "report.json"));
  MEMR1_ASSIGN_OR_RETURN(Scores warm, ReadReport(root_ / "eval" / "warm-start" / "report.json"));
  rows.push_back({"ADD-only (warm-start answer agent)", {add_only}});
  rows.push_back({"warm start (Memory-SFT)", {warm}});
  Row rl{absl::StrCat("Memory-R1 (",
                      v1::LearnerConfig::Algorithm_Name(config_.learner().algorithm()), ")"),
         {}};
  for (uint64_t seed : options_.seeds) {
    MEMR1_ASSIGN_OR_RETURN(
        Scores scores, ReadReport(root_ / absl::StrCat("seed-", seed) / "eval" / "report.json"));
    rl.runs.push_back(scores);
  }
  rows.push_back(rl);
  std::string md = absl::StrCat(
      "# memr1 quickstart: test split (", options_.seeds.size(), " RL seeds: ",
      absl::StrJoin(options_.seeds, ", "), ")\n\n",
      "Scores in percent. RL rows: mean over seeds, [min, max] in brackets. ADD-only and the warm "
      "start are evaluated once (greedy decoding: identical for every seed).\n\n",
      "| pipeline | category | count | F1 | BLEU-1 | EM |\n|---|---|---:|---:|---:|---:|\n");
  for (const Row& row : rows) {
    for (const std::string& category : row.runs.front().order) {
      std::string line = absl::StrCat("| ", row.name, " | ", category, " | ",
                                      row.runs.front().counts.at(category));
      for (const char* key : {"f1", "bleu1", "em"}) {
        double sum = 0, low = INFINITY, high = -INFINITY;
        for (const Scores& run : row.runs) {
          const auto found = run.metrics.find(category);
          const double value =
              found == run.metrics.end() || !found->second.count(key) ? 0 : found->second.at(key);
          sum += 100 * value;
          low = std::min(low, 100 * value);
          high = std::max(high, 100 * value);
        }
        const double mean = sum / row.runs.size();
        absl::StrAppend(&line, " | ", absl::StrFormat("%.2f", mean));
        if (row.runs.size() > 1) absl::StrAppend(&line, absl::StrFormat(" [%.2f, %.2f]", low, high));
      }
      absl::StrAppend(&md, line, " |\n");
    }
  }
  absl::StrAppend(&md, "\nPer seed, overall (F1 / BLEU-1 / EM):\n\n");
  for (size_t i = 0; i < options_.seeds.size(); ++i) {
    const auto& overall = rl.runs[i].metrics["overall"];
    absl::StrAppend(&md, absl::StrFormat("- seed %d: %.2f / %.2f / %.2f\n", options_.seeds[i],
                                         100 * overall.at("f1"), 100 * overall.at("bleu1"),
                                         100 * overall.at("em")));
  }
  MEMR1_ASSIGN_OR_RETURN(std::string paired, PairedSection());
  absl::StrAppend(&md, paired);
  absl::StrAppend(&md, "\nCurves: plots/memory_manager-{reward_mean,kl}.png, "
                       "plots/answer_agent-{reward_mean,kl}.png\n");
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically((root_ / "report.md").string(), md));
  *out_ << md;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Quickstart::PairedSection() const {
  const fs::path warm = root_ / "eval" / "warm-start" / "predictions.jsonl";
  std::string md = absl::StrCat(
      "\nPaired with the warm start, overall (percentage points, on the same questions): the mean "
      "per-question difference, its standard error (SE) and t = difference / SE; |t| above about "
      "2 is beyond the noise of the question sample.",
      options_.seeds.size() > 1 ? " The last row averages the seeds per question first." : "",
      "\n\n",
      "| RL | F1 difference | SE | t | questions better / worse (F1) | EM difference | SE | t |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::string> metrics = {"f1", "em"};
  MEMR1_ASSIGN_OR_RETURN(eval::MetricScores baseline,
                         eval::ReadQuestionScores(warm.string(), metrics));
  std::map<std::string, std::vector<eval::QuestionScores>> seeds;  // metric -> per seed
  for (uint64_t seed : options_.seeds) {
    const fs::path path = root_ / absl::StrCat("seed-", seed) / "eval" / "predictions.jsonl";
    MEMR1_ASSIGN_OR_RETURN(eval::MetricScores scores,
                           eval::ReadQuestionScores(path.string(), metrics));
    for (const std::string& metric : metrics) seeds[metric].push_back(std::move(scores[metric]));
  }
  auto row = [&](const std::string& label, size_t first, size_t count) -> absl::Status {
    std::string line = absl::StrCat("| ", label);
    for (const std::string& metric : metrics) {
      const std::vector<eval::QuestionScores> runs(seeds[metric].begin() + first,
                                                   seeds[metric].begin() + first + count);
      auto paired = eval::ComparePaired(baseline[metric], runs);
      if (!paired.ok()) {
        return absl::DataLossError(absl::StrCat(label, " against ", warm.string(), ": ",
                                                paired.status().message()));
      }
      absl::StrAppend(&line, absl::StrFormat(" | %+.2f | %.2f | %.2f", 100 * paired->mean,
                                             100 * paired->standard_error, paired->t()));
      if (metric == "f1") absl::StrAppend(&line, " | ", paired->better, " / ", paired->worse);
    }
    absl::StrAppend(&md, line, " |\n");
    return absl::OkStatus();
  };
  for (size_t i = 0; i < options_.seeds.size(); ++i) {
    MEMR1_RETURN_IF_ERROR(row(absl::StrCat("seed ", options_.seeds[i]), i, 1));
  }
  if (options_.seeds.size() > 1) {
    MEMR1_RETURN_IF_ERROR(
        row(absl::StrCat("mean of ", options_.seeds.size(), " seeds"), 0, options_.seeds.size()));
  }
  return md;
}

absl::Status Quickstart::Run() {
  MEMR1_RETURN_IF_ERROR(options_.Validate());
  if (options_.memr1_binary.empty()) {
    MEMR1_ASSIGN_OR_RETURN(binary_, SelfExecutable());
  } else {
    binary_ = options_.memr1_binary;
  }
  MEMR1_ASSIGN_OR_RETURN(config_, LoadJobConfig(options_.config_path, options_.overrides));
  if (config_.data().dataset() != v1::DataConfig::SYNTHETIC) {
    return absl::InvalidArgumentError(absl::StrCat(
        options_.config_path, ": data.dataset must be synthetic for the quickstart (its world is "
                              "generated in stage 1 and its scripted teacher makes the warm start)"));
  }
  root_ = fs::absolute(config_.output_dir());
  std::error_code error;
  fs::create_directories(root_, error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create ", root_.string(), ": ", error.message()));
  }
  MEMR1_RETURN_IF_ERROR(sink_.AddFile("quickstart", (root_ / "quickstart.log").string()));
  config_snapshot_ = root_ / "config.yaml";
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically(config_snapshot_.string(), MessageToYaml(config_)));
  Say(absl::StrCat("output in ", root_.string(), "; RL seeds ", absl::StrJoin(options_.seeds, ",")));
  MEMR1_RETURN_IF_ERROR(Data());
  MEMR1_RETURN_IF_ERROR(Tokenizer());
  MEMR1_RETURN_IF_ERROR(Pretrain());
  MEMR1_RETURN_IF_ERROR(WarmStart());
  for (uint64_t seed : options_.seeds) MEMR1_RETURN_IF_ERROR(RlStage(5, seed, true));
  for (uint64_t seed : options_.seeds) MEMR1_RETURN_IF_ERROR(RlStage(6, seed, false));
  MEMR1_RETURN_IF_ERROR(Eval());
  MEMR1_RETURN_IF_ERROR(Report());
  std::string timing;
  for (const auto& [title, seconds] : seconds_) {
    absl::StrAppend(&timing, timing.empty() ? "" : ", ", title, " ",
                    absl::StrFormat("%.0f s", seconds));
  }
  Say(absl::StrCat("done in ", absl::FormatDuration(absl::Trunc(absl::Now() - start_,
                                                                 absl::Seconds(1))),
                   "; time per stage run now: ", timing.empty() ? "(all cached)" : timing));
  return absl::OkStatus();
}

}  // namespace

absl::Status QuickstartOptions::Validate() const {
  if (config_path.empty()) return absl::InvalidArgumentError("quickstart: --config is required");
  if (seeds.empty()) return absl::InvalidArgumentError("quickstart: --seeds lists no seed");
  if (std::set<uint64_t>(seeds.begin(), seeds.end()).size() != seeds.size()) {
    return absl::InvalidArgumentError("quickstart: --seeds lists a seed twice");
  }
  auto positive = [](const char* name, double value) -> absl::Status {
    if (!(value > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("quickstart: ", name, " must be > 0, got ",
                                                     value));
    }
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(positive("vocab size", vocab_size));
  MEMR1_RETURN_IF_ERROR(positive("hidden size", hidden_size));
  MEMR1_RETURN_IF_ERROR(positive("intermediate size", intermediate_size));
  MEMR1_RETURN_IF_ERROR(positive("layers", num_layers));
  MEMR1_RETURN_IF_ERROR(positive("heads", num_heads));
  MEMR1_RETURN_IF_ERROR(positive("kv heads", num_kv_heads));
  MEMR1_RETURN_IF_ERROR(positive("pretrain epochs", pretrain_epochs));
  MEMR1_RETURN_IF_ERROR(positive("pretrain seq len", pretrain_seq_len));
  MEMR1_RETURN_IF_ERROR(positive("pretrain lr", pretrain_lr));
  // Warm-up of min(5, epochs) steps needs at least one step per epoch: 2 x episodes >= batch 8.
  if (demo_episodes < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("quickstart: demo episodes must be >= 4, got ", demo_episodes));
  }
  MEMR1_RETURN_IF_ERROR(positive("sft epochs", sft_epochs));
  MEMR1_RETURN_IF_ERROR(positive("sft lr", sft_lr));
  MEMR1_RETURN_IF_ERROR(positive("manager lr", manager_lr));
  MEMR1_RETURN_IF_ERROR(positive("answer lr", answer_lr));
  for (const std::string& set : overrides) {
    if (absl::StartsWith(set, "learner.actor_lr=")) {
      return absl::InvalidArgumentError(
          "quickstart: --set learner.actor_lr: each stage has its own learning rate "
          "(--pretrain-lr, --sft-lr, --manager-lr, --answer-lr)");
    }
  }
  if (hidden_size % num_heads != 0 || num_heads % num_kv_heads != 0) {
    return absl::InvalidArgumentError(
        "quickstart: hidden size must be a multiple of heads, and heads of kv heads");
  }
  return absl::OkStatus();
}

absl::Status RunQuickstart(const QuickstartOptions& options, ShutdownSignal* shutdown) {
  Quickstart quickstart(options, shutdown);
  return quickstart.Run();
}

}  // namespace memr1::job
