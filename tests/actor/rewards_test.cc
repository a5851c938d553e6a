// Outcome rewards: normalised exact match, token F1, the LLM judge (against a judge server
// written here on 127.0.0.1) and the format reward.

#include "actor/rewards.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "eval/metrics.h"

namespace memr1::actor {
namespace {

TEST(NormalizedExactMatchTest, IgnoresCasePunctuationAndArticles) {
  EXPECT_EQ(NormalizedExactMatch("Lisbon.", "lisbon"), 1.0);
  EXPECT_EQ(NormalizedExactMatch("The Lisbon", "lisbon"), 1.0);
  EXPECT_EQ(NormalizedExactMatch("  Rex ", "REX"), 1.0);
  EXPECT_EQ(NormalizedExactMatch("Porto", "Lisbon"), 0.0);
  EXPECT_EQ(NormalizedExactMatch("Lisbon, Portugal", "Lisbon"), 0.0);
}

TEST(RewardScorerTest, ExactMatchAddsFormatRewardOnlyWhenParsed) {
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.25);
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  EXPECT_EQ(scorer->kind(), v1::ActorConfig::EXACT_MATCH);
  EXPECT_EQ(*scorer->Score("Where?", "Lisbon.", "Lisbon", /*parsed=*/true), 1.25);
  EXPECT_EQ(*scorer->Score("Where?", "Lisbon.", "Lisbon", /*parsed=*/false), 1.0);
  EXPECT_EQ(*scorer->Score("Where?", "Porto", "Lisbon", /*parsed=*/true), 0.25);
  EXPECT_EQ(*scorer->Score("Where?", "Porto", "Lisbon", /*parsed=*/false), 0.0);
}

TEST(RewardScorerTest, F1IsTheMem0TokenF1) {
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::F1, 0.0);
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  // Token sets {maya, lives, in, lisbon} vs {lisbon}: precision 1/4, recall 1.
  EXPECT_DOUBLE_EQ(*scorer->Score("Where?", "Maya lives in Lisbon", "Lisbon", true), 0.4);
  EXPECT_DOUBLE_EQ(*scorer->Score("Where?", "Maya lives in Lisbon", "Lisbon", true),
                   eval::TokenF1("Maya lives in Lisbon", "Lisbon"));
  EXPECT_EQ(*scorer->Score("Where?", "Porto", "Lisbon", true), 0.0);
}

TEST(RewardScorerTest, RejectsBadConfigurations) {
  EXPECT_EQ(RewardScorer::Create(v1::ActorConfig::JUDGE, 0.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RewardScorer::Create(v1::ActorConfig::REWARD_UNSPECIFIED, 0.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 1.5).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, -0.1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A judge on 127.0.0.1 that says CORRECT when the user message's prediction line mentions
// Lisbon (the prompt carries question, gold and prediction), or fails with HTTP 400 when told.
class JudgeServer {
 public:
  JudgeServer() {
    server_.Post("/v1/chat/completions",
                 [this](const httplib::Request& request, httplib::Response& response) {
                   ++requests_;
                   if (fail_) {
                     response.status = 400;
                     response.set_content("{\"error\":\"bad request\"}", "application/json");
                     return;
                   }
                   const nlohmann::json body = nlohmann::json::parse(request.body);
                   const std::string prompt = body["messages"].back()["content"];
                   const bool correct = absl::StrContains(prompt, "in Lisbon now");
                   const std::string content =
                       correct ? "{\"label\": \"CORRECT\"}" : "{\"label\": \"WRONG\"}";
                   const nlohmann::json reply = {
                       {"id", "x"},
                       {"object", "chat.completion"},
                       {"choices",
                        {{{"index", 0},
                          {"message", {{"role", "assistant"}, {"content", content}}},
                          {"finish_reason", "stop"}}}}};
                   response.set_content(reply.dump(), "application/json");
                 });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~JudgeServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/v1"); }
  int requests() const { return requests_.load(); }
  void set_fail(bool fail) { fail_ = fail; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::atomic<bool> fail_{false};
};

TEST(RewardScorerTest, JudgeRewardIsTheJudgeScorePlusFormatReward) {
  JudgeServer server;
  eval::JudgeOptions options;
  options.base_url = server.url();
  options.model = "judge";
  options.max_retries = 0;
  absl::StatusOr<std::unique_ptr<eval::JudgeClient>> judge = eval::JudgeClient::Create(options);
  ASSERT_TRUE(judge.ok()) << judge.status();
  absl::StatusOr<RewardScorer> scorer =
      RewardScorer::Create(v1::ActorConfig::JUDGE, 0.5, judge->get());
  ASSERT_TRUE(scorer.ok()) << scorer.status();
  EXPECT_EQ(*scorer->Score("Where does Maya live?", "She is in Lisbon now", "Lisbon", true), 1.5);
  EXPECT_EQ(*scorer->Score("Where does Maya live?", "Porto", "Lisbon", false), 0.0);
  EXPECT_EQ(server.requests(), 2);

  // A judge error is the scorer's error, naming the question.
  server.set_fail(true);
  absl::StatusOr<double> failed = scorer->Score("Where does Maya live?", "Porto", "Lisbon", true);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(absl::StrContains(failed.status().message(), "Where does Maya live?"))
      << failed.status();
}

}  // namespace
}  // namespace memr1::actor
