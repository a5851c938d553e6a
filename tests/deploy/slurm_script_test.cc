// What `memr1 slurm submit` writes for a config (job/slurm_submit.h) and how `memr1 slurm
// prepare` lays a job out on an allocation (job/slurm_layout.h). No Slurm needed: the real runs
// are in slurm_test.cc.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "job/slurm_layout.h"
#include "job/slurm_submit.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1::job {
namespace {

using ::memr1::testing::ReadTextFile;
using ::memr1::testing::RunCommand;
using ::memr1::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

const char kTemplate[] = MEMR1_SOURCE_DIR "/deploy/slurm/memr1.sbatch";
const char kQwen7b[] = MEMR1_SOURCE_DIR "/configs/qwen2.5-7b-grpo.yaml";

std::string Template() { return ReadTextFile(kTemplate); }

// A CPU job config: `ranks` learner ranks, `actors` actors, `shards` shards.
std::string WriteCpuConfig(const TempDir& dir, const std::string& name, int ranks = 2,
                           int actors = 2, int shards = 2) {
  const std::string path = dir.Sub(name + ".yaml");
  std::ofstream(path) << "name: " << name << "\n"
                      << "output_dir: " << dir.Sub(name) << "\n"
                      << "memstore:\n  num_shards: " << shards << "\n"
                      << "actor:\n  num_actors: " << actors << "\n"
                      << "  sampling:\n    group_size: 2\n"
                      << "learner:\n  num_ranks: " << ranks << "\n  global_batch_size: 8\n"
                      << "  micro_batch_size: 2\n";
  return path;
}

SlurmSubmitOptions Options(const std::string& config) {
  SlurmSubmitOptions options;
  options.config_path = config;
  options.memr1_binary = "/opt/memr1/bin/memr1";
  options.template_text = Template();
  return options;
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> LinesWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) lines.push_back(line);
  }
  return lines;
}

TEST(SlurmScriptTest, CpuJobGetsOneNodeWithATaskPerLearnerRankAndItsSettings) {
  TempDir dir;
  const std::string config = WriteCpuConfig(dir, "cpu");
  SlurmSubmitOptions options = Options(config);
  options.overrides = {"learner.total_steps=5", "name=it's"};
  options.signal_seconds = 120;
  options.time_limit = "01:00:00";
  options.sbatch_args = {"--qos=debug"};
  auto script = RenderSlurmScript(options);
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->path, dir.Sub("cpu") + "/slurm/memr1.sbatch");
  EXPECT_THAT(LinesWith(script->text, "#SBATCH"),
              ::testing::ElementsAre(
                  "#SBATCH --requeue", "#SBATCH --signal=B:USR1@120", "#SBATCH --open-mode=append",
                  "#SBATCH --job-name=memr1-it_s",
                  "#SBATCH --output=" + dir.Sub("cpu") + "/slurm/slurm-%j.out",
                  "#SBATCH --time=01:00:00", "#SBATCH --qos=debug", "#SBATCH --nodes=1",
                  "#SBATCH --ntasks-per-node=2"));
  EXPECT_THAT(script->text, HasSubstr("\nMEMR1='/opt/memr1/bin/memr1'\n"));
  EXPECT_THAT(script->text, HasSubstr("\nJOB_CONFIG='" + config + "'\n"));
  EXPECT_THAT(script->text,
              HasSubstr("\nJOB_OVERRIDES=(--set 'learner.total_steps=5' --set 'name=it'\\''s')\n"));
  EXPECT_THAT(script->text, HasSubstr("\nGPUS_PER_NODE=0\n"));
  EXPECT_THAT(script->text, HasSubstr("\nRESUME=0\n"));
  // The template's own settings are gone (one value per setting), and bash accepts the result.
  EXPECT_EQ(LinesWith(script->text, "MEMR1=").size(), 1u);
  const std::string path = dir.Sub("rendered.sbatch");
  std::ofstream(path) << script->text;
  const auto syntax = RunCommand("bash -n " + path);
  EXPECT_EQ(syntax.exit_code, 0) << syntax.output;
  // The overrides read back in bash exactly as given.
  const auto settings = RunCommand(
      "bash -c 'eval \"$(sed -n \"/^# @memr1-settings-begin/,/^# @memr1-settings-end/p\" " + path +
      ")\"; printf \"%s|\" \"${JOB_OVERRIDES[@]}\"'");
  EXPECT_EQ(settings.output, "--set|learner.total_steps=5|--set|name=it's|");
}

TEST(SlurmScriptTest, GpuJobGetsLearnerAndActorNodesWithAllTheirGpus) {
  // Qwen-2.5-7B GRPO: 8 learner ranks, 8 actors, 8 GPUs per node (model.device cuda).
  auto script = RenderSlurmScript(Options(kQwen7b));
  ASSERT_TRUE(script.ok()) << script.status();
  const auto directives = LinesWith(script->text, "#SBATCH --");
  EXPECT_THAT(directives, ::testing::IsSupersetOf({"#SBATCH --nodes=2",
                                                   "#SBATCH --ntasks-per-node=8",
                                                   "#SBATCH --gpus-per-node=8",
                                                   "#SBATCH --exclusive"}));
  EXPECT_THAT(script->text, HasSubstr("\nGPUS_PER_NODE=8\n"));
  EXPECT_THAT(script->text, HasSubstr("\nLEARNER_NODES=1\n"));
  EXPECT_THAT(script->text, Not(HasSubstr("hetjob")));

  // Heterogeneous: the learners' node, then the other one, each with its directives.
  SlurmSubmitOptions het = Options(kQwen7b);
  het.heterogeneous = true;
  het.time_limit = "24:00:00";
  auto split = RenderSlurmScript(het);
  ASSERT_TRUE(split.ok()) << split.status();
  const std::string text = split->text;
  const size_t separator = text.find("\n#SBATCH hetjob\n");
  ASSERT_NE(separator, std::string::npos) << text;
  const std::string first = text.substr(0, separator), second = text.substr(separator);
  EXPECT_THAT(first, HasSubstr("#SBATCH --nodes=1\n#SBATCH --ntasks-per-node=8\n"
                               "#SBATCH --gpus-per-node=8\n"));
  EXPECT_THAT(second, HasSubstr("#SBATCH --time=24:00:00\n#SBATCH --nodes=1\n"));
  EXPECT_THAT(text, HasSubstr("\nLEARNER_NODES=0\n"));

  // More ranks per node than GPUs, and a heterogeneous job without a second component.
  SlurmSubmitOptions crowded = Options(kQwen7b);
  crowded.gpus_per_node = 4;
  crowded.learner_nodes = 1;
  EXPECT_THAT(RenderSlurmScript(crowded).status().message(),
              HasSubstr("more ranks per node than GPUs"));
  het.nodes = 1;
  EXPECT_THAT(RenderSlurmScript(het).status().message(), HasSubstr("heterogeneous job needs"));
}

TEST(SlurmScriptTest, BadOptionsAndTemplatesAreRefusedNamingWhat) {
  TempDir dir;
  const std::string config = WriteCpuConfig(dir, "bad");
  SlurmSubmitOptions options = Options(config);
  options.mpi = "openmpi";
  EXPECT_THAT(RenderSlurmScript(options).status().message(), HasSubstr("--mpi 'openmpi'"));
  options = Options(config);
  options.sbatch_args = {"--qos=a\n#SBATCH --nodes=99"};
  EXPECT_THAT(RenderSlurmScript(options).status().message(), HasSubstr("spans lines"));
  options = Options(config);
  options.sbatch_args = {"qos=a"};
  EXPECT_THAT(RenderSlurmScript(options).status().message(), HasSubstr("not an sbatch option"));
  options = Options(config);
  options.memr1_binary = "memr1";
  EXPECT_THAT(RenderSlurmScript(options).status().message(), HasSubstr("not an absolute path"));
  options = Options(config);
  options.template_text = "#!/bin/bash\necho no markers\n";
  EXPECT_THAT(RenderSlurmScript(options).status().message(),
              HasSubstr("lacks the line '# @memr1-directives'"));
  // A config error surfaces before anything is written.
  options = Options(config);
  options.overrides = {"learner.num_ranks=0"};
  EXPECT_THAT(RenderSlurmScript(options).status().message(), HasSubstr("learner.num_ranks"));
  // The template is found next to a build tree's binary, or named.
  EXPECT_TRUE(FindSlurmTemplate(MEMR1_BINARY_DIR "/cli/memr1", "").ok());
  EXPECT_THAT(FindSlurmTemplate("/nowhere/bin/memr1", "").status().message(),
              HasSubstr("/nowhere/share/memr1/slurm/memr1.sbatch"));
}

TEST(SlurmScriptTest, OutputDirOfAnotherJobIsRefusedWithoutResume) {
  TempDir dir;
  const std::string config = WriteCpuConfig(dir, "taken");
  std::filesystem::create_directories(dir.Sub("taken") + "/coordinator");
  std::ofstream(dir.Sub("taken") + "/coordinator/CURRENT") << "x";
  SlurmSubmitOptions options = Options(config);
  EXPECT_EQ(RenderSlurmScript(options).status().code(), absl::StatusCode::kFailedPrecondition);
  options.resume = true;
  auto script = RenderSlurmScript(options);
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_THAT(script->text, HasSubstr("\nRESUME=1\n"));
}

v1::JobConfig Config(const std::string& yaml) {
  auto config = LoadJobConfigFromText(yaml, "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : v1::JobConfig();
}

TEST(SlurmLayoutTest, GpuJobPutsLearnersFirstAndSpreadsTheRestOverTheOtherNodes) {
  const v1::JobConfig config = Config(
      "model: {device: cuda}\nmemstore: {num_shards: 3}\nactor: {num_actors: 4}\n"
      "learner: {num_ranks: 8, global_batch_size: 16, micro_batch_size: 2}\n");
  SlurmLayoutOptions options;
  options.nodes = {{"gpu1", "10.0.0.1"}, {"gpu2", "10.0.0.2"}, {"gpu3", "10.0.0.3"}};
  options.gpus_per_node = 8;
  auto layout = PlanSlurmLayout(config, options);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->learner_nodes.size(), 1u);
  EXPECT_EQ(layout->learner_nodes[0].name, "gpu1");
  EXPECT_EQ(layout->learner_tasks_per_node, 8);
  EXPECT_EQ(layout->learner_gpus_per_task, 1);
  EXPECT_EQ(layout->actor_gpus_per_task, 1);
  EXPECT_EQ(layout->coordinator.name, "gpu2");
  std::vector<std::string> shards, actors;
  for (const auto& node : layout->shard_nodes) shards.push_back(node.name);
  for (const auto& node : layout->actor_nodes) actors.push_back(node.name);
  EXPECT_THAT(shards, ::testing::ElementsAre("gpu2", "gpu3", "gpu2"));
  EXPECT_THAT(actors, ::testing::ElementsAre("gpu2", "gpu3", "gpu2", "gpu3"));
  EXPECT_THAT(layout->shard_listen, ::testing::ElementsAre("10.0.0.2:0", "10.0.0.3:0", "10.0.0.2:0"));

  // One node for 8 ranks and 4 actors: 12 GPUs wanted of 8.
  options.nodes.resize(1);
  EXPECT_THAT(PlanSlurmLayout(config, options).status().message(),
              HasSubstr("node gpu1 would need 12 GPUs"));
  // Two learner nodes asked for on one node.
  options.learner_nodes = 2;
  EXPECT_THAT(PlanSlurmLayout(config, options).status().message(),
              HasSubstr("need 2 node(s) but the allocation has 1"));
}

TEST(SlurmLayoutTest, CpuJobSharesEveryNodeAndHeterogeneousJobKeepsItsComponents) {
  const v1::JobConfig config = Config(
      "memstore: {num_shards: 2}\nactor: {num_actors: 3}\n"
      "learner: {num_ranks: 2, global_batch_size: 8, micro_batch_size: 2}\n");
  SlurmLayoutOptions options;
  options.nodes = {{"a", "fe80::1"}, {"b", "host-b"}, {"c", "host-c"}};
  auto layout = PlanSlurmLayout(config, options);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->learner_nodes.size(), 2u);
  EXPECT_EQ(layout->learner_tasks_per_node, 1);
  EXPECT_EQ(layout->learner_gpus_per_task, 0);
  EXPECT_EQ(layout->coordinator.name, "a");
  EXPECT_THAT(layout->shard_listen, ::testing::ElementsAre("[fe80::1]:0", "host-b:0"));
  EXPECT_EQ(layout->actor_nodes[2].name, "c");

  options.learner_group = {{"l1", "10.1.0.1"}};
  options.service_group = {{"s1", "10.2.0.1"}};
  layout = PlanSlurmLayout(config, options);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->learner_nodes[0].name, "l1");
  EXPECT_EQ(layout->learner_tasks_per_node, 2);
  EXPECT_EQ(layout->coordinator.name, "s1");
  EXPECT_EQ(layout->shard_nodes[1].name, "s1");

  options.service_group.clear();
  EXPECT_THAT(PlanSlurmLayout(config, options).status().message(),
              HasSubstr("needs the nodes of both components"));
  options.learner_group.clear();
  options.nodes = {{"a", ""}};
  EXPECT_THAT(PlanSlurmLayout(config, options).status().message(),
              HasSubstr("node 'a' needs a name and an address"));
}

TEST(SlurmLayoutTest, ResumedShardsKeepTheirAddressesOnlyWhenAllCanBindThemAgain) {
  const v1::JobConfig config = Config(
      "memstore: {num_shards: 2}\n"
      "learner: {num_ranks: 1, global_batch_size: 8, micro_batch_size: 2}\n");
  SlurmLayoutOptions options;
  options.nodes = {{"a", "10.0.0.1"}, {"b", "10.0.0.2"}};
  auto kept = PlanSlurmLayout(config, options, {"10.0.0.2:7001", "10.0.0.1:7002"});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->shards_keep_addresses);
  EXPECT_EQ(kept->shard_nodes[0].name, "b");
  EXPECT_THAT(kept->shard_listen, ::testing::ElementsAre("10.0.0.2:7001", "10.0.0.1:7002"));
  auto moved = PlanSlurmLayout(config, options, {"10.0.0.2:7001", "10.9.9.9:7002"});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(moved->shards_keep_addresses);
  EXPECT_THAT(moved->shard_listen, ::testing::ElementsAre("10.0.0.1:0", "10.0.0.2:0"));
}

TEST(SlurmPrepareTest, WritesAPrivateJobYamlAndAssignmentsBashReads) {
  TempDir dir;
  SlurmPrepareOptions options;
  options.config_path = WriteCpuConfig(dir, "prep", /*ranks=*/2, /*actors=*/2, /*shards=*/2);
  options.layout.nodes = {{"n0", "127.0.0.1"}};
  std::filesystem::create_directories(dir.Sub("prep") + "/addresses");
  std::ofstream(dir.Sub("prep") + "/addresses/coordinator") << "stale:1\n";
  auto prepared = PrepareSlurmJob(options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_FALSE(prepared->done);
  const std::string out = dir.Sub("prep");
  for (const char* sub : {"logs", "metrics", "checkpoints", "addresses", "slurm", "coordinator"}) {
    EXPECT_TRUE(std::filesystem::is_directory(out + "/" + sub)) << sub;
  }
  EXPECT_FALSE(std::filesystem::exists(out + "/addresses/coordinator")) << "stale address kept";
  struct stat info {};
  ASSERT_EQ(::stat((out + "/job.yaml").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto written = LoadJobConfig(out + "/job.yaml");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->job_token().size(), 32u) << "a random token when the config has none";
  EXPECT_EQ(written->output_dir(), out);

  const std::string assignments = dir.Sub("plan.sh");
  std::ofstream(assignments) << FormatSlurmAssignments(*prepared);
  const auto read = RunCommand(
      "bash -c 'set -u; eval \"$(cat " + assignments +
      ")\"; echo \"$MEMR1_SHARDS ${MEMR1_SHARD_NODE[1]} ${MEMR1_SHARD_LISTEN[0]} "
      "$MEMR1_LEARNER_RANKS $MEMR1_LEARNER_NODES ${#MEMR1_ACTOR_NODE[@]} $MEMR1_NODE_ADDRS "
      "$MEMR1_DONE ${#MEMR1_NOTES[@]}\"'");
  EXPECT_EQ(read.output, "2 n0 127.0.0.1:0 2 n0 2 n0=127.0.0.1 0 0\n");

  // The shards' addresses go into job.yaml, which stays private.
  EXPECT_THAT(RecordShardAddresses(out + "/job.yaml", {"127.0.0.1:1"}).message(),
              HasSubstr("1 address(es) for memstore.num_shards 2"));
  EXPECT_THAT(RecordShardAddresses(out + "/job.yaml", {"127.0.0.1:1", "noport"}).message(),
              HasSubstr("'noport' is not host:port"));
  ASSERT_TRUE(RecordShardAddresses(out + "/job.yaml", {"127.0.0.1:1", "127.0.0.1:2"}).ok());
  written = LoadJobConfig(out + "/job.yaml");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(written->memstore().shards(), ::testing::ElementsAre("127.0.0.1:1", "127.0.0.1:2"));
  ASSERT_EQ(::stat((out + "/job.yaml").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // A second prepare without --resume: the coordinator state dir now holds the job's state.
  std::ofstream(out + "/coordinator/CURRENT") << "x";
  EXPECT_EQ(PrepareSlurmJob(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SlurmPrepareTest, NodeListsAndQuotingRoundTrip) {
  auto nodes = ParseSlurmNodes("a=10.0.0.1,b=fe80::2");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[1].address, "fe80::2");
  EXPECT_THAT(ParseSlurmNodes("a=1,b").status().message(), HasSubstr("'b' is not name=address"));
  EXPECT_EQ(RunCommand("printf '%s' " + ShellQuote("a 'b' $c \\d")).output, "a 'b' $c \\d");
  EXPECT_EQ(JoinHostPort("::1", 5), "[::1]:5");
}

}  // namespace
}  // namespace memr1::job
