// The quickstart through its real entry point, `memr1 quickstart --config configs/quickstart.yaml`,
// shortened with --set and flags (a small world, a tiny model, one RL step per agent, two seeds
// so the plots draw a band): every stage runs as the real child processes (memr1 launch with its
// coordinator, memstore shards, actors and two learner ranks under mpirun). Checked: the
// artefacts (checkpoints that `memr1 model logprobs` loads, metrics JSON lines, the report's
// table, PNG plots that decode), that a second run skips every finished stage and redoes a
// half-finished one, and that a failing stage is named with the tail of its log.

#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1 {
namespace {

namespace fs = std::filesystem;
using ::memr1::testing::ReadJsonLines;
using ::memr1::testing::ReadTextFile;
using ::memr1::testing::RunMemr1;

// Tiny sizes on top of the shipped config: what CI can afford, same stages.
std::string QuickstartArgs(const std::string& output_dir, int vocab_size = 400,
                           const std::string& seeds = "1,2") {
  std::string args = "quickstart --config " MEMR1_SOURCE_DIR "/configs/quickstart.yaml";
  for (const char* set :
       {"data.synthetic.conversations=4", "data.synthetic.sessions_per_conversation=2",
        "data.synthetic.turns_per_session=6", "data.synthetic.questions_per_conversation=5",
        "data.train_conversations=2", "data.validation_conversations=1",
        "data.test_conversations=1", "actor.sampling.group_size=2",
        "actor.sampling.max_response_tokens=24", "learner.global_batch_size=4",
        "learner.micro_batch_size=2", "learner.total_steps=1", "learner.checkpoint_every=1"}) {
    args += std::string(" --set ") + set;
  }
  args += " --set output_dir=" + output_dir;
  args += " --seeds " + seeds + " --vocab-size " + std::to_string(vocab_size) +
          " --hidden-size 32 --intermediate-size 64 --layers 2";
  args += " --pretrain-epochs 1 --demo-episodes 4 --sft-epochs 1 --manager-lr 3e-4";
  return args;
}

// One {"ids": [...]} line of token ids every model of the run knows.
void ExpectLoadable(const std::string& model, const std::string& dir) {
  ASSERT_TRUE(fs::exists(model + "/config.json")) << model;
  ASSERT_TRUE(fs::exists(model + "/tokenizer.json")) << model;
  const std::string input = dir + "/ids.jsonl";
  const std::string output = dir + "/logprobs.jsonl";
  std::ofstream(input) << "{\"ids\": [10, 20, 30, 40, 50]}\n";
  const auto run = RunMemr1("model logprobs --model " + model + " --input " + input +
                            " --output " + output);
  ASSERT_EQ(run.exit_code, 0) << model << ": " << run.output;
  const auto lines = ReadJsonLines(output);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0]["logprobs"].size(), 4u);
  for (const auto& value : lines[0]["logprobs"]) {
    EXPECT_TRUE(std::isfinite(value.get<double>()) && value.get<double>() <= 0) << value;
  }
}

// The policy directory of the latest checkpoint under `run`.
std::string LatestPolicy(const std::string& run) {
  std::string name = ReadTextFile(run + "/checkpoints/LATEST");
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return run + "/checkpoints/" + name + "/policy";
}

// Stage 1's LM text: one document per train conversation, where a turn that says something
// is followed by the teacher's third-person fact, and an event's date is copied from the
// session time above it ("6:04 pm on 3 October, 2023" -> "... on 3 October 2023."); then the
// final memories and the questions with their answers.
void ExpectConversationDocuments(const std::string& path, size_t conversations) {
  const auto documents = ReadJsonLines(path);
  ASSERT_EQ(documents.size(), conversations) << path;
  const std::regex session_time(R"(^\d{1,2}:\d\d [ap]m on (\d{1,2} \w+), (\d{4})$)");
  const std::regex turn(R"(^(\w+): I .*\.$)");
  int facts = 0, dated = 0;
  for (const auto& document : documents) {
    const std::string text = document.at("text").get<std::string>();
    EXPECT_NE(text.find("\nMemories:\n["), std::string::npos) << text;
    EXPECT_NE(text.find("\nQuestion: "), std::string::npos) << text;
    EXPECT_NE(text.find("\n**Answer:** "), std::string::npos) << text;
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::string day;  // of the latest session, as the facts write it: "3 October 2023"
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      std::smatch m;
      if (std::regex_match(lines[i], m, session_time)) day = m[1].str() + " " + m[2].str();
      if (!std::regex_match(lines[i], m, turn)) continue;
      const std::string& next = lines[i + 1];
      if (next.rfind(m[1].str() + " ", 0) != 0 && next.rfind(m[1].str() + "'s ", 0) != 0) continue;
      ++facts;
      const size_t on = next.rfind(" on ");
      if (on == std::string::npos || next.find(" on ", 0) != on) continue;
      ++dated;
      EXPECT_EQ(next.substr(on + 4), day + ".") << lines[i] << "\n" << next;
    }
  }
  EXPECT_GT(facts, 0) << "no turn followed by its fact in " << path;
  EXPECT_GT(dated, 0) << "no dated event in " << path;
}

TEST(QuickstartTest, ShortenedRunMakesEveryArtefactAndASecondRunSkipsFinishedStages) {
  testing::TempDir dir("memr1_quickstart");
  const std::string out = dir.Sub("run");
  const auto first = RunMemr1(QuickstartArgs(out));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  for (int stage = 1; stage <= 7; ++stage) {
    EXPECT_NE(first.output.find("[quickstart] stage " + std::to_string(stage) + "/7: "),
              std::string::npos)
        << "stage " << stage << " not announced\n"
        << first.output;
  }
  EXPECT_EQ(first.output.find("cached"), std::string::npos) << first.output;

  // Checkpoints: pretraining, the warm start and each seed's two RL stages load and score.
  ExpectLoadable(LatestPolicy(out + "/pretrain/train"), dir.path());
  ExpectLoadable(LatestPolicy(out + "/warmstart/train"), dir.path());
  for (const char* seed : {"1", "2"}) {
    for (const char* agent : {"memory_manager", "answer_agent"}) {
      const std::string run = out + "/seed-" + seed + "/rl-" + agent + "/run";
      ExpectLoadable(LatestPolicy(run), dir.path());
      // Metrics: one line per RL step, with the curves' keys.
      const auto metrics = ReadJsonLines(run + "/metrics/learner.jsonl");
      ASSERT_EQ(metrics.size(), 1u) << run;
      EXPECT_TRUE(metrics[0].contains("reward_mean")) << metrics[0];
      EXPECT_TRUE(metrics[0].contains("kl")) << metrics[0];
    }
  }
  EXPECT_FALSE(ReadJsonLines(out + "/pretrain/train/metrics.jsonl").empty());
  EXPECT_FALSE(ReadJsonLines(out + "/warmstart/train/metrics.jsonl").empty());
  ExpectConversationDocuments(out + "/data/pretrain.jsonl", 2);
  // The children read a snapshot of the config with the --set applied (editing the file during
  // a run cannot reach the stages to come); the RL stages' job files come from it.
  const std::string snapshot = ReadTextFile(out + "/config.yaml");
  EXPECT_NE(snapshot.find("output_dir: \"" + out + "\""), std::string::npos) << snapshot;
  EXPECT_NE(snapshot.find("\n  total_steps: 1\n"), std::string::npos) << snapshot;
  EXPECT_NE(snapshot.find("\n  test_conversations: 1\n"), std::string::npos) << snapshot;
  // The RL answer agent was trained with the RL manager fixed. Each RL stage has its own
  // learning rate (--manager-lr, given above; --answer-lr, its default).
  const std::string manager_job = ReadTextFile(out + "/seed-1/rl-memory_manager/run/job.yaml");
  const std::string answer_job = ReadTextFile(out + "/seed-1/rl-answer_agent/run/job.yaml");
  EXPECT_NE(answer_job.find(out + "/seed-1/rl-memory_manager/run/checkpoints/"),
            std::string::npos);
  EXPECT_NE(manager_job.find("\n  actor_lr: 0.0003\n"), std::string::npos) << manager_job;
  EXPECT_NE(answer_job.find("\n  actor_lr: 0.0001\n"), std::string::npos) << answer_job;

  // The report: the three pipelines, each category and overall with counts; RL rows with the
  // min-max over the two seeds.
  const std::string report = ReadTextFile(out + "/report.md");
  for (const char* row : {"| ADD-only (warm-start answer agent) | overall | ",
                          "| warm start (Memory-SFT) | overall | ", "| Memory-R1 (GRPO) | overall | "}) {
    EXPECT_NE(report.find(row), std::string::npos) << row << "\n" << report;
  }
  EXPECT_TRUE(std::regex_search(
      report, std::regex(R"(\| Memory-R1 \(GRPO\) \| overall \| [1-9][0-9]* \| [0-9.]+ \[[0-9.]+, [0-9.]+\] \|)")))
      << report;
  EXPECT_NE(report.find("- seed 2: "), std::string::npos) << report;
  // The paired comparison with the warm start: a row per seed and the seeds' mean, whose F1
  // difference is the table's RL mean minus the warm start (both rounded to 0.01).
  for (const char* row : {"| seed 1 | ", "| seed 2 | "}) {
    EXPECT_NE(report.find(row), std::string::npos) << row << "\n" << report;
  }
  std::smatch paired, warm, rl;
  ASSERT_TRUE(std::regex_search(
      report, paired,
      std::regex(R"(\| mean of 2 seeds \| ([+-][0-9.]+) \| [0-9.]+ \| -?[0-9.]+ \| [0-9]+ / [0-9]+ \| [+-][0-9.]+ \| [0-9.]+ \| -?[0-9.]+ \|)")))
      << report;
  ASSERT_TRUE(std::regex_search(
      report, warm, std::regex(R"(\| warm start \(Memory-SFT\) \| overall \| [0-9]+ \| ([0-9.]+) \|)")));
  ASSERT_TRUE(std::regex_search(
      report, rl, std::regex(R"(\| Memory-R1 \(GRPO\) \| overall \| [0-9]+ \| ([0-9.]+) \[)")));
  EXPECT_NEAR(std::stod(paired[1].str()), std::stod(rl[1].str()) - std::stod(warm[1].str()), 0.011)
      << report;

  // Plots: four PNGs that decode at the default size.
  for (const char* name : {"memory_manager-reward_mean", "memory_manager-kl",
                           "answer_agent-reward_mean", "answer_agent-kl"}) {
    const std::string png = out + "/plots/" + name + ".png";
    std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> image(
        cairo_image_surface_create_from_png(png.c_str()), cairo_surface_destroy);
    ASSERT_EQ(cairo_surface_status(image.get()), CAIRO_STATUS_SUCCESS) << png;
    EXPECT_EQ(cairo_image_surface_get_width(image.get()), 900) << png;
    EXPECT_EQ(cairo_image_surface_get_height(image.get()), 540) << png;
  }

  // A second run skips every finished stage; a stage without its stamp (as if interrupted) is
  // redone, and only it.
  fs::remove(out + "/seed-2/eval/.done");
  const auto second = RunMemr1(QuickstartArgs(out));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  for (const char* cached :
       {"stage 1/7: data: cached", "stage 2/7: tokenizer: cached", "stage 3/7: pretrain: cached",
        "stage 4/7: warm start (teacher demonstrations + SFT): cached",
        "stage 5/7: RL memory manager, seed 1: cached", "stage 5/7: RL memory manager, seed 2: cached",
        "stage 6/7: RL answer agent, seed 1: cached", "stage 6/7: RL answer agent, seed 2: cached",
        "stage 7/7: eval add_only: cached", "stage 7/7: eval warm start: cached",
        "stage 7/7: eval RL, seed 1: cached"}) {
    EXPECT_NE(second.output.find(cached), std::string::npos) << cached << "\n" << second.output;
  }
  EXPECT_NE(second.output.find("stage 7/7: eval RL, seed 2 -> "), std::string::npos)
      << second.output;
  EXPECT_EQ(second.output.find("[rl-"), std::string::npos) << "an RL stage ran again";
  // The redone evaluation is deterministic: the same report.
  EXPECT_EQ(ReadTextFile(out + "/report.md"), report);

  // An RL-only setting (the reward) redoes the RL stages and what follows them, not the warm
  // start: the teacher's demonstrations do not depend on it.
  const auto third = RunMemr1(QuickstartArgs(out, 400, "1") + " --set actor.reward=exact_match");
  ASSERT_EQ(third.exit_code, 0) << third.output;
  EXPECT_NE(third.output.find("stage 4/7: warm start (teacher demonstrations + SFT): cached"),
            std::string::npos)
      << third.output;
  EXPECT_NE(third.output.find("stage 5/7: RL memory manager, seed 1 -> "), std::string::npos)
      << third.output;
}

TEST(QuickstartTest, RefusesOneLearningRateForEveryStage) {
  testing::TempDir dir("memr1_quickstart");
  const auto run = RunMemr1(QuickstartArgs(dir.Sub("run")) + " --set learner.actor_lr=1e-3");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("--set learner.actor_lr: each stage has its own learning rate"),
            std::string::npos)
      << run.output;
  EXPECT_FALSE(fs::exists(dir.Sub("run"))) << "nothing should have run";
}

TEST(QuickstartTest, FailingStageIsNamedWithTheTailOfItsLog) {
  testing::TempDir dir("memr1_quickstart");
  // 100 ids cannot hold the 256 byte tokens: the tokenizer stage's child fails.
  const auto run = RunMemr1(QuickstartArgs(dir.Sub("run"), /*vocab_size=*/100));
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("stage 2/7 (tokenizer) failed"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("the last lines of " + dir.Sub("run") + "/tokenizer/logs/"),
            std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find("stage 3/7"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace memr1
