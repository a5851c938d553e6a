#include "learner/losses.h"

#include <cmath>
#include <functional>

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace memr1::learner {
namespace {

torch::Tensor T2(std::vector<double> values, int64_t rows) {
  return torch::tensor(values, torch::kDouble).view({rows, -1});
}

// Central finite differences of `f` at `x` against autograd (double precision).
void ExpectGradientMatches(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                           torch::Tensor x) {
  x = x.detach().clone().set_requires_grad(true);
  f(x).backward();
  const torch::Tensor analytic = x.grad().clone();
  const double h = 1e-6;
  auto flat = x.detach().view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    torch::Tensor plus = flat.clone(), minus = flat.clone();
    plus[i] += h;
    minus[i] -= h;
    const double numeric = (f(plus.view(x.sizes())).item<double>() -
                            f(minus.view(x.sizes())).item<double>()) / (2 * h);
    EXPECT_NEAR(analytic.view(-1)[i].item<double>(), numeric, 1e-6) << "element " << i;
  }
}

TEST(AggregateTest, TokenMeanAndSequenceMeanDiffer) {
  const auto values = T2({1, 2, 3, 4, 0, 0}, 2);
  const auto mask = T2({1, 1, 1, 1, 0, 0}, 2);
  EXPECT_DOUBLE_EQ(AggregateLoss(values, mask, LossAggregation::kTokenMean).item<double>(), 2.5);
  EXPECT_DOUBLE_EQ(AggregateLoss(values, mask, LossAggregation::kSequenceMean).item<double>(), 3.0);
  // A global denominator replaces the local count.
  EXPECT_DOUBLE_EQ(AggregateLoss(values, mask, LossAggregation::kTokenMean, 10).item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(AggregateLoss(values, mask, LossAggregation::kSequenceMean, 4).item<double>(),
                   1.5);
}

TEST(ClippedSurrogateTest, HandComputedValuesAndClipFraction) {
  // ratios e^{0.5}=1.6487 (A=+1, clipped at 1.2), e^{-0.5}=0.6065 (A=-1, clipped at 0.8),
  // 1.0 (A=2, inside), e^{0.1}=1.105 (A=-1, inside).
  const auto old_lp = T2({-1, -1, -1, -1}, 1);
  const auto lp = T2({-0.5, -1.5, -1, -0.9}, 1);
  const auto adv = T2({1, -1, 2, -1}, 1);
  const auto mask = T2({1, 1, 1, 1}, 1);
  PolicyLossOptions options;
  auto result = ClippedSurrogateLoss(lp, old_lp, adv, mask, options);
  // token losses: max(-1.6487, -1.2) = -1.2; max(0.6065, 0.8) = 0.8; -2; 1.10517
  const double expected = (-1.2 + 0.8 - 2.0 + std::exp(0.1)) / 4;
  EXPECT_NEAR(result.loss.item<double>(), expected, 1e-12);
  EXPECT_DOUBLE_EQ(result.clip_fraction, 0.5);
  EXPECT_NEAR(result.approx_kl, -(0.5 - 0.5 + 0 + 0.1) / 4, 1e-12);
}

TEST(ClippedSurrogateTest, SeparateLowAndHighEpsilon) {
  const auto old_lp = T2({0, 0}, 1);
  const auto lp = T2({std::log(1.5), std::log(0.5)}, 1);
  const auto adv = T2({1, -1}, 1);
  const auto mask = T2({1, 1}, 1);
  PolicyLossOptions options;
  options.clip_eps_low = 0.2;
  options.clip_eps_high = 0.28;
  auto result = ClippedSurrogateLoss(lp, old_lp, adv, mask, options);
  EXPECT_NEAR(result.loss.item<double>(), (-1.28 + 0.8) / 2, 1e-12);
}

TEST(ClippedSurrogateTest, DualClipBoundsNegativeAdvantageLoss) {
  // ratio 5 with A = -1: plain loss max(5, 1.2) = 5; dual clip c=3 bounds it at 3.
  const auto old_lp = T2({0}, 1);
  const auto lp = T2({std::log(5.0)}, 1);
  const auto adv = T2({-1}, 1);
  const auto mask = T2({1}, 1);
  PolicyLossOptions options;
  EXPECT_NEAR(ClippedSurrogateLoss(lp, old_lp, adv, mask, options).loss.item<double>(), 5, 1e-12);
  options.dual_clip = 3;
  auto result = ClippedSurrogateLoss(lp, old_lp, adv, mask, options);
  EXPECT_NEAR(result.loss.item<double>(), 3, 1e-12);
  EXPECT_DOUBLE_EQ(result.dual_clip_fraction, 1.0);
}

TEST(ClippedSurrogateTest, MaskedTokensDoNotCountAndImportanceWeightsScale) {
  const auto old_lp = T2({-1, -1}, 1);
  const auto lp = T2({-1, -1}, 1);
  const auto adv = T2({1, 100}, 1);
  const auto mask = T2({1, 0}, 1);
  PolicyLossOptions options;
  EXPECT_NEAR(ClippedSurrogateLoss(lp, old_lp, adv, mask, options).loss.item<double>(), -1, 1e-12);
  const auto weights = T2({0.5, 1}, 1);
  EXPECT_NEAR(ClippedSurrogateLoss(lp, old_lp, adv, mask, options, weights).loss.item<double>(),
              -0.5, 1e-12);
}

TEST(ClippedSurrogateTest, GradientMatchesFiniteDifferences) {
  const auto old_lp = T2({-1.0, -0.7, -2.0, -0.3, -1.1, -0.4}, 2);
  const auto adv = T2({0.7, -1.3, 0.4, 1.0, -0.2, 2.0}, 2);
  const auto mask = T2({1, 1, 0, 1, 1, 1}, 2);
  PolicyLossOptions options;
  options.clip_eps_high = 0.3;
  options.dual_clip = 2.0;
  options.aggregation = LossAggregation::kSequenceMean;
  // Points away from the clip boundaries (the loss is piecewise smooth).
  const auto lp = T2({-0.9, -0.75, -1.5, -0.6, -1.05, -0.2}, 2);
  ExpectGradientMatches(
      [&](const torch::Tensor& x) {
        return ClippedSurrogateLoss(x, old_lp, adv, mask, options).loss;
      },
      lp);
}

TEST(KlTest, EstimatorsMatchFormulas) {
  const auto lp = T2({-1.0, -2.0}, 1);
  const auto ref = T2({-1.5, -1.0}, 1);
  const auto k1 = KlPerToken(lp, ref, KlEstimator::kK1);
  const auto k2 = KlPerToken(lp, ref, KlEstimator::kK2);
  const auto k3 = KlPerToken(lp, ref, KlEstimator::kK3);
  EXPECT_DOUBLE_EQ(k1[0][0].item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(k1[0][1].item<double>(), -1.0);
  EXPECT_DOUBLE_EQ(k2[0][1].item<double>(), 0.5);
  EXPECT_NEAR(k3[0][0].item<double>(), std::exp(-0.5) + 0.5 - 1, 1e-12);
  EXPECT_NEAR(k3[0][1].item<double>(), std::exp(1.0) - 1.0 - 1, 1e-12);
  EXPECT_EQ(KlPerToken(lp, lp, KlEstimator::kK3).abs().sum().item<double>(), 0);
}

TEST(KlTest, K3GradientMatchesFiniteDifferences) {
  const auto ref = T2({-1.5, -1.0, -0.3}, 1);
  const auto mask = T2({1, 1, 1}, 1);
  ExpectGradientMatches(
      [&](const torch::Tensor& x) {
        return AggregateLoss(KlPerToken(x, ref, KlEstimator::kK3), mask,
                             LossAggregation::kTokenMean);
      },
      T2({-1.0, -2.0, -0.5}, 1));
}

TEST(ImportanceWeightTest, TruncatesAtCapAndIsDetached) {
  auto learner = T2({0.0, -1.0}, 1).set_requires_grad(true);
  const auto behaviour = T2({-2.0, -0.5}, 1);
  const auto w = TruncatedImportanceWeights(learner, behaviour, 2.0);
  EXPECT_FALSE(w.requires_grad());
  EXPECT_DOUBLE_EQ(w[0][0].item<double>(), 2.0);  // e^2 capped
  EXPECT_NEAR(w[0][1].item<double>(), std::exp(-0.5), 1e-12);
}

TEST(EntropyTest, UniformAndGradient) {
  const auto uniform = torch::zeros({1, 1, 4}, torch::kDouble);
  EXPECT_NEAR(EntropyFromLogits(uniform)[0][0].item<double>(), std::log(4.0), 1e-12);
  const auto mask = T2({1, 1}, 1);
  ExpectGradientMatches(
      [&](const torch::Tensor& x) {
        return AggregateLoss(EntropyFromLogits(x), mask, LossAggregation::kTokenMean);
      },
      torch::tensor({0.3, -1.0, 2.0, 0.1, 0.5, 0.5}, torch::kDouble).view({1, 2, 3}));
}

TEST(ValueLossTest, ClippedTakesTheLargerError) {
  const auto old_v = T2({0.0, 0.0}, 1);
  const auto v = T2({1.0, 0.1}, 1);
  const auto ret = T2({2.0, 0.0}, 1);
  const auto mask = T2({1, 1}, 1);
  // token 0: unclipped (1-2)^2 = 1, clipped v=0.2: (0.2-2)^2 = 3.24 -> 3.24
  // token 1: unclipped 0.01, clipped (0.1)^2 = 0.01 -> 0.01
  auto result = ClippedValueLoss(v, old_v, ret, mask, 0.2, LossAggregation::kTokenMean);
  EXPECT_NEAR(result.loss.item<double>(), 0.5 * (3.24 + 0.01) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(result.clip_fraction, 0.5);
  auto plain = ClippedValueLoss(v, old_v, ret, mask, 0, LossAggregation::kTokenMean);
  EXPECT_NEAR(plain.loss.item<double>(), 0.5 * (1 + 0.01) / 2, 1e-12);
  ExpectGradientMatches(
      [&](const torch::Tensor& x) {
        return ClippedValueLoss(x, old_v, ret, mask, 0.2, LossAggregation::kTokenMean).loss;
      },
      T2({0.5, 0.05}, 1));
}

}  // namespace
}  // namespace memr1::learner
