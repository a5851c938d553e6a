#include "eval/paired.h"

#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/match.h"

namespace memr1::eval {
namespace {

TEST(PairedTest, MeanStandardErrorAndCountsOfTheDifferences) {
  const QuestionScores baseline{{"a", 0.0}, {"b", 0.5}, {"c", 1.0}, {"d", 0.25}};
  const QuestionScores candidate{{"a", 1.0}, {"b", 0.5}, {"c", 0.0}, {"d", 1.0}};
  // Differences 1, 0, -1, 0.75: mean 0.1875; sample variance sum((d - m)^2) / 3.
  const auto paired = ComparePaired(baseline, {candidate});
  ASSERT_TRUE(paired.ok()) << paired.status();
  EXPECT_EQ(paired->count, 4);
  EXPECT_DOUBLE_EQ(paired->mean, 0.1875);
  const double squares = std::pow(1 - 0.1875, 2) + std::pow(0.1875, 2) +
                         std::pow(-1 - 0.1875, 2) + std::pow(0.75 - 0.1875, 2);
  EXPECT_DOUBLE_EQ(paired->standard_error, std::sqrt(squares / 3 / 4));
  EXPECT_DOUBLE_EQ(paired->t(), paired->mean / paired->standard_error);
  EXPECT_EQ(paired->better, 2);
  EXPECT_EQ(paired->worse, 1);
}

TEST(PairedTest, SeveralCandidatesAreAveragedPerQuestionFirst) {
  const QuestionScores baseline{{"a", 0.0}, {"b", 1.0}};
  // Per question the seeds average to 0.5 and 1.0 (one seed's gain on b cancels the other's
  // loss): differences 0.5 and 0, not four separate ones.
  const QuestionScores seed1{{"a", 1.0}, {"b", 1.0}};
  const QuestionScores seed2{{"a", 0.0}, {"b", 1.0}};
  const auto paired = ComparePaired(baseline, {seed1, seed2});
  ASSERT_TRUE(paired.ok()) << paired.status();
  EXPECT_DOUBLE_EQ(paired->mean, 0.25);
  EXPECT_DOUBLE_EQ(paired->standard_error, std::sqrt((0.0625 + 0.0625) / 1 / 2));
  EXPECT_EQ(paired->better, 1);
  EXPECT_EQ(paired->worse, 0);
  // Equal systems: no difference, no spread, t 0, every question a tie (despite rounding of
  // the mean of three 2/3s).
  const QuestionScores thirds{{"a", 2.0 / 3}, {"b", 1.0 / 3}};
  const auto same = ComparePaired(thirds, {thirds, thirds, thirds});
  ASSERT_TRUE(same.ok());
  EXPECT_NEAR(same->mean, 0, 1e-15);
  EXPECT_EQ(same->better + same->worse, 0);
}

TEST(PairedTest, DifferentQuestionSetsAreRefusedNamingAQuestion) {
  const QuestionScores baseline{{"a", 0.0}, {"b", 1.0}};
  auto missing = ComparePaired(baseline, {{{"a", 1.0}}});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "candidate 1 has no score for question \"b\""))
      << missing.status();
  auto extra = ComparePaired(baseline, {baseline, {{"a", 1.0}, {"b", 0.0}, {"z", 1.0}}});
  ASSERT_FALSE(extra.ok());
  EXPECT_TRUE(absl::StrContains(extra.status().message(), "no score for question \"z\" (candidate 2)"))
      << extra.status();
  EXPECT_FALSE(ComparePaired(baseline, {}).ok());
}

TEST(PairedTest, ReadsPerQuestionJsonlAndNamesTheBadLine) {
  const auto scores = ParseQuestionScores(
      "{\"id\":\"c/qa0\",\"f1\":0.5,\"em\":0}\n\n{\"id\":\"c/qa1\",\"f1\":1,\"em\":1}\n", "p.jsonl",
      {"f1", "em"});
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_EQ(scores->at("f1"), (QuestionScores{{"c/qa0", 0.5}, {"c/qa1", 1.0}}));
  EXPECT_EQ(scores->at("em"), (QuestionScores{{"c/qa0", 0.0}, {"c/qa1", 1.0}}));
  auto no_metric = ParseQuestionScores("{\"id\":\"x\",\"f1\":1}\n{\"id\":\"y\"}\n", "p.jsonl", {"f1"});
  ASSERT_FALSE(no_metric.ok());
  EXPECT_TRUE(absl::StrContains(no_metric.status().message(), "p.jsonl:2"));
  EXPECT_TRUE(absl::StrContains(no_metric.status().message(), "\"f1\""));
  auto no_em = ParseQuestionScores("{\"id\":\"x\",\"f1\":1}\n", "p.jsonl", {"f1", "em"});
  ASSERT_FALSE(no_em.ok());
  EXPECT_TRUE(absl::StrContains(no_em.status().message(), "p.jsonl:1: field \"em\""));
  auto repeated =
      ParseQuestionScores("{\"id\":\"x\",\"f1\":1}\n{\"id\":\"x\",\"f1\":0}\n", "p.jsonl", {"f1"});
  ASSERT_FALSE(repeated.ok());
  EXPECT_TRUE(absl::StrContains(repeated.status().message(), "p.jsonl:2: question \"x\" again"));
  EXPECT_FALSE(ParseQuestionScores("[1]\n", "p.jsonl", {"f1"}).ok());
  EXPECT_FALSE(ReadQuestionScores("/nonexistent/predictions.jsonl", {"f1"}).ok());
}

}  // namespace
}  // namespace memr1::eval
