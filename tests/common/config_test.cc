#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "google/protobuf/util/message_differencer.h"

namespace memr1 {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<v1::JobConfig> Load(const std::string& yaml,
                                   const std::vector<std::string>& overrides = {}) {
  return LoadJobConfigFromText(yaml, "job.yaml", overrides);
}

std::string ErrorOf(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  const auto config = Load(yaml, overrides);
  EXPECT_FALSE(config.ok()) << yaml;
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

TEST(ConfigTest, EmptyDocumentGivesSchemaDefaults) {
  const auto config = Load("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->learner().algorithm(), v1::LearnerConfig::GRPO);
  EXPECT_DOUBLE_EQ(config->learner().actor_lr(), 1e-6);
  EXPECT_DOUBLE_EQ(config->learner().critic_lr(), 1e-5);
  EXPECT_EQ(config->learner().global_batch_size(), 128);
  EXPECT_EQ(config->learner().micro_batch_size(), 2);
  EXPECT_EQ(config->actor().sampling().max_prompt_tokens(), 4096);
  EXPECT_EQ(config->actor().sampling().max_response_tokens(), 2048);
  EXPECT_EQ(config->actor().answer_agent().per_speaker_k(), 30);
  EXPECT_EQ(config->memstore().max_text_bytes(), 16384);
}

TEST(ConfigTest, ReadsNestedValuesEnumsInAnyCaseAndSequences) {
  const auto config = Load(R"(
name: t
learner:
  algorithm: ppo
  actor_lr: 2.5e-6
  global_batch_size: 64
actor:
  sampling: {group_size: 1, temperature: 0.7}
  memory_manager:
    fact_extraction: IDENTITY
memstore:
  shards: ["127.0.0.1:5000", "127.0.0.1:5001"]
  sync_writes: yes
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "t");
  EXPECT_EQ(config->learner().algorithm(), v1::LearnerConfig::PPO);
  EXPECT_DOUBLE_EQ(config->learner().actor_lr(), 2.5e-6);
  EXPECT_DOUBLE_EQ(config->actor().sampling().temperature(), 0.7);
  EXPECT_EQ(config->actor().memory_manager().fact_extraction(),
            v1::MemoryManagerConfig::IDENTITY);
  ASSERT_EQ(config->memstore().shards_size(), 2);
  EXPECT_EQ(config->memstore().shards(1), "127.0.0.1:5001");
  EXPECT_TRUE(config->memstore().sync_writes());
}

TEST(ConfigTest, UnknownKeyNamesFileLineColumnAndPath) {
  const std::string message = ErrorOf("name: x\nlearner:\n  actor_lr: 1e-6\n  actr_lr: 2\n");
  EXPECT_THAT(message, HasSubstr("job.yaml:4:3: learner.actr_lr: unknown key"));
  EXPECT_THAT(message, HasSubstr("actor_lr"));  // lists the valid keys
}

TEST(ConfigTest, UnknownTopLevelSection) {
  EXPECT_THAT(ErrorOf("lerner:\n  actor_lr: 1\n"), HasSubstr("job.yaml:1:1: lerner: unknown key"));
}

TEST(ConfigTest, WrongTypesAreErrors) {
  EXPECT_THAT(ErrorOf("learner:\n  global_batch_size: many\n"),
              HasSubstr("job.yaml:2:22: learner.global_batch_size: expected an integer, got 'many'"));
  EXPECT_THAT(ErrorOf("learner:\n  global_batch_size: 1.5\n"),
              HasSubstr("expected an integer, got '1.5'"));
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: fast\n"), HasSubstr("expected a number"));
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: .nan\n"), HasSubstr("expected a number"));
  EXPECT_THAT(ErrorOf("model:\n  activation_checkpointing: maybe\n"),
              HasSubstr("expected true or false, got 'maybe'"));
  EXPECT_THAT(ErrorOf("learner: 3\n"),
              HasSubstr("job.yaml:1:10: learner: expected a mapping, got a scalar"));
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: [1, 2]\n"),
              HasSubstr("learner.actor_lr: expected a number, got a sequence"));
  EXPECT_THAT(ErrorOf("memstore:\n  shards: 127.0.0.1:5\n"),
              HasSubstr("memstore.shards: expected a sequence of a string, got a scalar"));
  EXPECT_THAT(ErrorOf("seed: -3\n"), HasSubstr("seed: expected a non-negative integer"));
  EXPECT_THAT(ErrorOf("learner:\n  global_batch_size: 99999999999\n"),
              HasSubstr("expected an integer"));
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr:\n"), HasSubstr("learner.actor_lr: expected a number, got no value"));
}

TEST(ConfigTest, UnknownEnumNameListsTheChoices) {
  EXPECT_THAT(ErrorOf("learner:\n  algorithm: dpo\n"),
              HasSubstr("learner.algorithm: 'dpo' is not one of: ppo, grpo, rloo"));
  // The *_UNSPECIFIED sentinel is not a choice.
  EXPECT_THAT(ErrorOf("learner:\n  algorithm: algorithm_unspecified\n"), HasSubstr("not one of"));
}

TEST(ConfigTest, OutOfRangeValuesAreErrors) {
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: 0\n"),
              HasSubstr("job.yaml:2:13: learner.actor_lr: 0 is out of range (0, 1]"));
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: -1e-6\n"), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf("actor:\n  sampling:\n    top_p: 1.5\n"),
              HasSubstr("actor.sampling.top_p: 1.5 is out of range (0, 1]"));
  EXPECT_THAT(ErrorOf("learner:\n  micro_batch_size: 0\n"),
              HasSubstr("learner.micro_batch_size: 0 is out of range [1, inf)"));
}

TEST(ConfigTest, EmptyRequiredStringIsAnError) {
  EXPECT_THAT(ErrorOf("name: \"\"\n"), HasSubstr("job.yaml:1:1: name: must not be empty"));
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  EXPECT_THAT(ErrorOf("seed: 1\nseed: 2\n"), HasSubstr("job.yaml:2:1: seed: key given twice"));
}

TEST(ConfigTest, YamlSyntaxErrorNamesTheLine) {
  EXPECT_THAT(ErrorOf("learner:\n  actor_lr: [1, 2\n"), HasSubstr("YAML syntax error"));
  EXPECT_THAT(ErrorOf("- 1\n- 2\n"), HasSubstr("<document>: expected a mapping, got a sequence"));
}

TEST(ConfigTest, OverridesSetNestedFieldsAndWin) {
  const auto config = Load("learner:\n  actor_lr: 1e-6\n",
                           {"learner.actor_lr=3e-6", "learner.algorithm=ppo",
                            "actor.sampling.group_size=1", "name=a:b",
                            "memstore.shards=[127.0.0.1:1, 127.0.0.1:2]"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->learner().actor_lr(), 3e-6);
  EXPECT_EQ(config->learner().algorithm(), v1::LearnerConfig::PPO);
  EXPECT_EQ(config->name(), "a:b");
  EXPECT_EQ(config->memstore().shards_size(), 2);
}

TEST(ConfigTest, BadOverridesAreErrors) {
  EXPECT_THAT(ErrorOf("", {"learner.actor_lr"}), HasSubstr("expected path=value"));
  EXPECT_THAT(ErrorOf("", {"learner.nope=1"}),
              HasSubstr("--set learner.nope=1: learner.nope: unknown key"));
  EXPECT_THAT(ErrorOf("", {"seed.x=1"}), HasSubstr("seed: is not a section"));
  EXPECT_THAT(ErrorOf("", {"learner.actor_lr=2"}),
              HasSubstr("--set learner.actor_lr=2: learner.actor_lr: 2 is out of range"));
  EXPECT_THAT(ErrorOf("", {"learner.num_ranks=x"}), HasSubstr("expected an integer, got 'x'"));
}

TEST(ConfigTest, CrossFieldRulesNameTheLineThatSetTheValue) {
  EXPECT_THAT(ErrorOf("learner:\n  global_batch_size: 100\n  micro_batch_size: 3\n"),
              HasSubstr("job.yaml:2:3: learner.global_batch_size: 100 is not a multiple of "
                        "learner.micro_batch_size x learner.num_ranks (3 x 1)"));
  EXPECT_THAT(ErrorOf("actor:\n  sampling:\n    group_size: 1\n"),
              HasSubstr("actor.sampling.group_size: GRPO and RLOO compare completions"));
  EXPECT_THAT(ErrorOf("learner:\n  algorithm: rloo\nactor:\n  sampling:\n    group_size: 1\n"),
              HasSubstr("actor.sampling.group_size: GRPO and RLOO compare completions"));
  EXPECT_THAT(ErrorOf("learner:\n  global_batch_size: 12\nactor:\n  sampling:\n    group_size: 8\n"),
              HasSubstr("not a multiple of actor.sampling.group_size (8)"));
  EXPECT_THAT(ErrorOf("learner:\n  communicator: nccl\n"), HasSubstr("nccl needs model.device cuda"));
  EXPECT_THAT(ErrorOf("model:\n  device: tpu\n"), HasSubstr("'tpu' is not cpu, cuda or cuda:N"));
  EXPECT_THAT(ErrorOf("memstore:\n  shards: [nohost]\n"), HasSubstr("expected host:port"));
  EXPECT_THAT(ErrorOf("coordinator:\n  listen: \"127.0.0.1:70000\"\n"),
              HasSubstr("coordinator.listen"));
  EXPECT_THAT(ErrorOf("memstore:\n  tls: {enabled: true}\n"), HasSubstr("cert_file and key_file"));
  EXPECT_THAT(ErrorOf("eval:\n  judge_enabled: true\n"), HasSubstr("judge.base_url"));
  EXPECT_THAT(ErrorOf("coordinator:\n  lease_seconds: 5\n  heartbeat_seconds: 5\n"),
              HasSubstr("shorter than coordinator.lease_seconds"));
}

TEST(ConfigTest, PrintedYamlLoadsBackEqual) {
  const auto config = Load(R"(
name: "123"
learner: {algorithm: ppo, actor_lr: 1.0e-7, warmup_steps: 3}
actor: {sampling: {group_size: 1}, answer_agent: {answer_marker: "**Answer:**"}}
memstore: {shards: ["127.0.0.1:1"]}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const std::string yaml = MessageToYaml(*config);
  const auto reloaded = Load(yaml);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status() << "\n" << yaml;
  // Everything is explicit after printing, so compare the values, set or defaulted.
  v1::JobConfig original = *config;
  google::protobuf::util::MessageDifferencer differ;
  differ.set_scope(google::protobuf::util::MessageDifferencer::PARTIAL);
  EXPECT_TRUE(differ.Compare(original, *reloaded)) << yaml;
  EXPECT_EQ(reloaded->name(), "123");
  EXPECT_EQ(reloaded->learner().actor_lr(), 1.0e-7);
  EXPECT_EQ(MessageToYaml(*reloaded), yaml);
  EXPECT_THAT(yaml, HasSubstr("algorithm: ppo"));
  EXPECT_THAT(yaml, HasSubstr("critic_lr: 1e-05"));  // a default, shown
}

TEST(ConfigTest, ShippedConfigsValidate) {
  for (const char* name : {"tiny-cpu.yaml", "qwen2.5-7b-grpo.yaml"}) {
    const auto config = LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/" + name);
    EXPECT_TRUE(config.ok()) << name << ": " << config.status();
  }
}

TEST(ConfigTest, PaperSettingsForQwen7bGrpo) {
  const auto config =
      LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/qwen2.5-7b-grpo.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->learner().algorithm(), v1::LearnerConfig::GRPO);
  EXPECT_DOUBLE_EQ(config->learner().actor_lr(), 1e-6);
  EXPECT_DOUBLE_EQ(config->learner().critic_lr(), 1e-5);
  EXPECT_EQ(config->learner().global_batch_size(), 128);
  EXPECT_EQ(config->learner().micro_batch_size(), 2);
  EXPECT_EQ(config->actor().sampling().max_prompt_tokens(), 4096);
  EXPECT_EQ(config->actor().sampling().max_response_tokens(), 2048);
  EXPECT_DOUBLE_EQ(config->actor().sampling().temperature(), 1.0);
  EXPECT_DOUBLE_EQ(config->actor().eval_temperature(), 0.0);
}

TEST(ConfigTest, MissingFileIsNotFound) {
  const auto config = LoadJobConfig("/nonexistent/job.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/job.yaml"));
}

}  // namespace
}  // namespace memr1
