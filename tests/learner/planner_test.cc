#include "learner/memory_planner.h"

#include <string>

#include "common/config.h"
#include "gtest/gtest.h"

namespace memr1::learner {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

v1::JobConfig Load(const std::string& name) {
  auto config = LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/" + name);
  EXPECT_TRUE(config.ok()) << name << ": " << config.status();
  return *config;
}

TEST(ModelShapeTest, ParameterCountsMatchThePublishedSizes) {
  // Published totals: 3.09B, 7.62B, 14.77B, 8.03B.
  const double expected[] = {3.09e9, 7.62e9, 14.77e9, 8.03e9};
  ASSERT_EQ(KnownModelShapes().size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(KnownModelShapes()[i].NumParameters(), expected[i], 0.01e9)
        << KnownModelShapes()[i].name;
  }
}

TEST(ModelShapeTest, ResolvesByNameOrConfigJsonAndNamesTheProblem) {
  auto shape = ResolveModelShape("models/Qwen2.5-7B");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->hidden_size, 3584);
  EXPECT_EQ(ResolveModelShape("models/unknown").status().code(), absl::StatusCode::kNotFound);
  auto parsed = ParseModelShape(
      R"({"model_type":"llama","vocab_size":100,"hidden_size":64,"intermediate_size":128,
          "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2})",
      "c.json");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->head_dim, 16);
  EXPECT_FALSE(parsed->attention_bias);
  auto bad = ParseModelShape(R"({"vocab_size":100})", "c.json");
  EXPECT_NE(bad.status().message().find("c.json: key 'hidden_size'"), std::string::npos);
}

TEST(PlannerTest, EveryPaperConfigFitsOnItsH100s) {
  for (const char* name :
       {"qwen2.5-3b-grpo.yaml", "qwen2.5-3b-ppo.yaml", "qwen2.5-7b-grpo.yaml", "qwen2.5-7b-ppo.yaml",
        "qwen2.5-14b-grpo.yaml", "qwen2.5-14b-ppo.yaml", "llama3.1-8b-grpo.yaml",
        "llama3.1-8b-ppo.yaml"}) {
    const v1::JobConfig config = Load(name);
    PlanOptions options;
    options.num_gpus = config.learner().num_ranks();
    EXPECT_TRUE(options.num_gpus == 4 || options.num_gpus == 8) << name;
    auto plan = PlanMemory(config, options);
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status();
    EXPECT_TRUE(plan->fits) << name << "\n" << FormatMemoryPlan(config, options, *plan);
  }
}

TEST(PlannerTest, ItemsFollowTheModel) {
  v1::JobConfig config = Load("qwen2.5-7b-grpo.yaml");
  PlanOptions options;
  options.num_gpus = 8;
  auto plan = PlanMemory(config, options);
  ASSERT_TRUE(plan.ok());
  const double p = plan->policy.NumParameters();
  double weights = 0, optimizer = 0, reference = 0;
  for (const auto& item : plan->items) {
    if (item.name == "policy weights") weights = item.bytes;
    if (item.name.rfind("policy AdamW state", 0) == 0) optimizer = item.bytes;
    if (item.name == "reference weights") reference = item.bytes;
  }
  EXPECT_DOUBLE_EQ(weights, 2 * p);    // bf16
  EXPECT_DOUBLE_EQ(optimizer, 12 * p / 8);  // ZeRO-1 over 8
  EXPECT_DOUBLE_EQ(reference, 2 * p);  // kl_coef > 0

  // Turning checkpointing off makes activations dominate; the planner says so and advises.
  config.mutable_model()->set_activation_checkpointing(false);
  config.mutable_learner()->set_zero_stage(0);
  auto heavy = PlanMemory(config, options);
  ASSERT_TRUE(heavy.ok());
  EXPECT_FALSE(heavy->fits);
  EXPECT_GT(heavy->training_bytes, plan->training_bytes * 5);
  const std::string text = FormatMemoryPlan(config, options, *heavy);
  EXPECT_NE(text.find("does not fit"), std::string::npos);
  EXPECT_NE(text.find("model.activation_checkpointing: true"), std::string::npos) << text;
  EXPECT_NE(text.find("learner.zero_stage: 1"), std::string::npos) << text;
}

TEST(PlannerTest, FourteenBWithoutOffloadDoesNotFitOnEight) {
  v1::JobConfig config = Load("qwen2.5-14b-grpo.yaml");
  config.mutable_learner()->set_optimizer_offload(false);
  config.mutable_learner()->set_reference_from_trajectories(false);
  PlanOptions options;
  options.num_gpus = 8;
  auto plan = PlanMemory(config, options);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->fits);
  EXPECT_GT(plan->resident_bytes, 80 * kGiB);
}

TEST(ByteSizeTest, ParsesUnits) {
  EXPECT_DOUBLE_EQ(*ParseByteSize("80GiB"), 80 * kGiB);
  EXPECT_DOUBLE_EQ(*ParseByteSize("141GB"), 141e9);
  EXPECT_DOUBLE_EQ(*ParseByteSize("512MiB"), 0.5 * kGiB);
  EXPECT_DOUBLE_EQ(*ParseByteSize("1024"), 1024);
  EXPECT_FALSE(ParseByteSize("eighty").ok());
  EXPECT_FALSE(ParseByteSize("80XB").ok());
  EXPECT_FALSE(ParseByteSize("-1GiB").ok());
}

TEST(PlannerTest, RejectsBadOptions) {
  PlanOptions options;
  options.num_gpus = 0;
  EXPECT_FALSE(PlanMemory(Load("qwen2.5-7b-grpo.yaml"), options).ok());
}

}  // namespace
}  // namespace memr1::learner
