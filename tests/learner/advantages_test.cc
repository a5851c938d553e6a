#include "learner/advantages.h"

#include <cmath>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace memr1::learner {
namespace {

torch::Tensor T2(std::vector<double> values, int64_t rows) {
  return torch::tensor(values, torch::kDouble).view({rows, -1});
}

TEST(GaeTest, MatchesHandComputedRecursion) {
  // One sequence of 3 policy tokens, reward 1 at the end, gamma 0.9, lambda 0.8.
  const auto rewards = T2({0, 0, 1}, 1);
  const auto values = T2({0.5, 0.2, 0.4}, 1);
  const auto mask = T2({1, 1, 1}, 1);
  auto result = ComputeGae(rewards, values, mask, 0.9, 0.8);
  ASSERT_TRUE(result.ok()) << result.status();
  // delta2 = 1 - 0.4 = 0.6; a2 = 0.6
  // delta1 = 0 + 0.9*0.4 - 0.2 = 0.16; a1 = 0.16 + 0.72*0.6 = 0.592
  // delta0 = 0 + 0.9*0.2 - 0.5 = -0.32; a0 = -0.32 + 0.72*0.592 = 0.10624
  const auto adv = result->advantages;
  EXPECT_NEAR(adv[0][2].item<double>(), 0.6, 1e-12);
  EXPECT_NEAR(adv[0][1].item<double>(), 0.592, 1e-12);
  EXPECT_NEAR(adv[0][0].item<double>(), 0.10624, 1e-12);
  EXPECT_NEAR(result->returns[0][0].item<double>(), 0.10624 + 0.5, 1e-12);
}

TEST(GaeTest, MaskedTokensArePassedThroughAndPaddingIgnored) {
  // Policy tokens at 0 and 2, an observation token at 1, padding at 3.
  const auto rewards = T2({0, 0, 1, 0}, 1);
  const auto values = T2({0.5, 9.0, 0.4, 7.0}, 1);
  const auto mask = T2({1, 0, 1, 0}, 1);
  auto result = ComputeGae(rewards, values, mask, 0.9, 0.8);
  ASSERT_TRUE(result.ok()) << result.status();
  // Same as the compressed sequence [0.5, 0.4] with rewards [0, 1].
  // a1 = 0.6; a0 = 0.9*0.4 - 0.5 + 0.72*0.6 = 0.292
  EXPECT_NEAR(result->advantages[0][2].item<double>(), 0.6, 1e-12);
  EXPECT_NEAR(result->advantages[0][0].item<double>(), 0.292, 1e-12);
  EXPECT_EQ(result->advantages[0][1].item<double>(), 0);
  EXPECT_EQ(result->advantages[0][3].item<double>(), 0);
  EXPECT_EQ(result->returns[0][3].item<double>(), 0);
}

TEST(GaeTest, GammaLambdaOneIsRewardToGoMinusValue) {
  const auto rewards = T2({0, 0, 2, 0, 0, -1}, 2);
  const auto values = T2({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, 2);
  const auto mask = torch::ones({2, 3}, torch::kDouble);
  auto result = ComputeGae(rewards, values, mask, 1.0, 1.0);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(torch::allclose(result->returns, T2({2, 2, 2, -1, -1, -1}, 2)));
}

TEST(GaeTest, RejectsRewardOnMaskedTokenAndShapeMismatch) {
  const auto mask = T2({1, 0}, 1);
  EXPECT_EQ(ComputeGae(T2({0, 1}, 1), T2({0, 0}, 1), mask, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeGae(T2({0, 1}, 1), T2({0, 0, 0}, 1), mask, 1, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GroupRelativeTest, CentresAndScalesPerGroupAndCountsEqualGroups) {
  const std::vector<double> rewards = {1, 0, 0, 1, 1, 1, 0.5};
  const std::vector<std::string> groups = {"a", "a", "a", "a", "b", "b", "c"};
  auto centred = GroupRelativeAdvantages(rewards, groups, /*std_normalize=*/false);
  ASSERT_TRUE(centred.ok());
  EXPECT_EQ(centred->num_groups, 3);
  EXPECT_EQ(centred->num_degenerate_groups, 2);  // b (all 1) and c (one member)
  EXPECT_DOUBLE_EQ(centred->advantages[0], 0.5);
  EXPECT_DOUBLE_EQ(centred->advantages[1], -0.5);
  EXPECT_EQ(centred->advantages[4], 0);
  EXPECT_EQ(centred->advantages[6], 0);

  auto scaled = GroupRelativeAdvantages(rewards, groups, /*std_normalize=*/true, 0);
  ASSERT_TRUE(scaled.ok());
  // Group a: mean 0.5, sample std sqrt(4*0.25/3) = sqrt(1/3).
  EXPECT_NEAR(scaled->advantages[0], 0.5 / std::sqrt(1.0 / 3.0), 1e-12);
  EXPECT_NEAR(scaled->advantages[2], -0.5 / std::sqrt(1.0 / 3.0), 1e-12);
}

TEST(GroupRelativeTest, SizeMismatchIsAnError) {
  EXPECT_FALSE(GroupRelativeAdvantages({1, 2}, {"a"}, true).ok());
  EXPECT_FALSE(LeaveOneOutAdvantages({1, 2}, {"a"}).ok());
}

TEST(LeaveOneOutTest, SubtractsMeanOfTheOthers) {
  auto result = LeaveOneOutAdvantages({1, 0, 0, 5}, {"g", "g", "g", "h"});
  ASSERT_TRUE(result.ok());
  EXPECT_DOUBLE_EQ(result->advantages[0], 1.0);   // 1 - mean(0, 0)
  EXPECT_DOUBLE_EQ(result->advantages[1], -0.5);  // 0 - mean(1, 0)
  EXPECT_EQ(result->advantages[3], 0);
  EXPECT_EQ(result->num_degenerate_groups, 1);
}

TEST(WhitenTest, ZeroMeanUnitVarianceOverMaskedPositions) {
  const auto x = T2({1, 2, 3, 100}, 1);
  const auto mask = T2({1, 1, 1, 0}, 1);
  const auto w = MaskedWhiten(x, mask, 0);
  EXPECT_NEAR(w[0][0].item<double>(), -1.0 / std::sqrt(2.0 / 3.0), 1e-12);
  EXPECT_NEAR(w[0][1].item<double>(), 0.0, 1e-12);
  EXPECT_EQ(w[0][3].item<double>(), 0);
}

}  // namespace
}  // namespace memr1::learner
